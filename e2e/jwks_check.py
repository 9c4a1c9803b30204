"""Verifies a tollgate access token the way a Python resource server would:
from the RFC 8414 metadata to the JWKS, with PyJWT's PyJWKClient, and checks
that introspection tells a live token from a revoked one; then the same
for a registered client's own token (client_credentials, HTTP Basic), and
introspection by a client authenticated with its own credentials.

Environment: E2E_BASE_URL, E2E_ADMIN_USER, E2E_ADMIN_PASSWORD,
E2E_CC_CLIENT_ID, E2E_CC_CLIENT_SECRET (a client_secret_basic client allowed
client_credentials, holding admin and introspect).
"""

import base64
import json
import os
import sys
import urllib.parse
import urllib.request

import jwt

BASE = os.environ["E2E_BASE_URL"]


def call(method, path, form=None, token=None, basic=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if basic:
        # RFC 6749 §2.3.1: each part form-urlencoded, then joined by ":".
        pair = ":".join(urllib.parse.quote_plus(part) for part in basic)
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    with urllib.request.urlopen(request) as response:
        body = response.read()
        return response.status, (json.loads(body) if body else None)


def login(scope=None):
    form = {"username": os.environ["E2E_ADMIN_USER"], "password": os.environ["E2E_ADMIN_PASSWORD"]}
    if scope:
        form["scope"] = scope
    return call("POST", "/token", form)[1]


def main():
    _, metadata = call("GET", "/.well-known/oauth-authorization-server")
    issuer = metadata["issuer"]
    assert issuer == BASE, f"the issuer {issuer} is not the server's URL {BASE}"
    tokens = login()
    client = jwt.PyJWKClient(metadata["jwks_uri"])
    key = client.get_signing_key_from_jwt(tokens["access_token"])
    claims = jwt.decode(
        tokens["access_token"],
        key.key,
        algorithms=metadata["access_token_signing_alg_values_supported"],
        audience="tollgate",
        issuer=issuer,
    )
    print(f"  [pyjwt] {jwt.get_unverified_header(tokens['access_token'])['alg']} token of "
          f"sub {claims['sub']} verified from {metadata['jwks_uri']}")
    try:
        forged = tokens["access_token"][:-4] + ("AAAA" if not tokens["access_token"].endswith("AAAA") else "BBBB")
        jwt.decode(forged, key.key, algorithms=[key.algorithm_name], audience="tollgate", issuer=issuer)
        sys.exit("a tampered token verified")
    except jwt.InvalidTokenError:
        print("  [pyjwt] a tampered token is refused")

    inspector = login("introspect")["access_token"]
    _, live = call("POST", "/token/introspect", {"token": tokens["access_token"]}, inspector)
    assert live["active"] is True and live["sub"] == claims["sub"], live
    call("POST", "/token/revoke", {"token": tokens["refresh_token"]})
    _, revoked = call("POST", "/token/introspect", {"token": tokens["access_token"]}, inspector)
    assert revoked == {"active": False}, revoked
    print("  [introspect] live, then inactive once its session was revoked")

    client = (os.environ["E2E_CC_CLIENT_ID"], os.environ["E2E_CC_CLIENT_SECRET"])
    _, issued = call("POST", "/token", {"grant_type": "client_credentials", "scope": "admin"}, basic=client)
    assert "refresh_token" not in issued and issued["scope"] == "admin", issued
    key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(issued["access_token"])
    claims = jwt.decode(
        issued["access_token"],
        key.key,
        algorithms=metadata["access_token_signing_alg_values_supported"],
        audience="tollgate",
        issuer=issuer,
    )
    assert claims["sub"] == client[0] and claims["client_id"] == client[0], claims
    assert "sid" not in claims, claims
    assert "client_credentials" in metadata["grant_types_supported"], metadata
    print(f"  [pyjwt] client_credentials token of client {claims['sub']} verified from the JWKS")
    _, status = call("POST", "/token/introspect", {"token": issued["access_token"]}, basic=client)
    assert status["active"] is True and status["sub"] == client[0], status
    user = login("read:items")["access_token"]
    _, seen = call("POST", "/token/introspect", {"token": user}, basic=client)
    assert seen["active"] is True and seen["username"] == os.environ["E2E_ADMIN_USER"], seen
    print("  [introspect] a client authenticated by HTTP Basic introspects its own and a user's token")


if __name__ == "__main__":
    main()
