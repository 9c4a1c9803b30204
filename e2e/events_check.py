"""A Python service that verifies tollgate's tokens itself and learns of ended
sessions from tollgate's revocation events (RFC 8936 poll delivery of RFC 8417
SETs): it polls with `requests`, verifies each SET with PyJWT's PyJWKClient,
acknowledges it, and refuses the tokens of a revoked session.

Environment: E2E_BASE_URL, E2E_ADMIN_USER, E2E_ADMIN_PASSWORD (the session
that gets revoked), E2E_EVENTS_USER, E2E_EVENTS_PASSWORD (a user holding the
`events` scope: the receiver).
"""

import os
import sys
import threading
import time

import jwt
import requests

BASE = os.environ["E2E_BASE_URL"]
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"


def login(user, password, scope=None):
    form = {"grant_type": "password", "username": user, "password": password}
    if scope:
        form["scope"] = scope
    response = requests.post(f"{BASE}/token", data=form, timeout=10)
    response.raise_for_status()
    return response.json()


class Receiver:
    """The loop a resource server runs: poll, verify, acknowledge, remember."""

    def __init__(self, token):
        metadata = requests.get(f"{BASE}/.well-known/oauth-authorization-server", timeout=10).json()
        self.issuer = metadata["issuer"]
        self.algorithms = metadata["access_token_signing_alg_values_supported"]
        self.keys = jwt.PyJWKClient(metadata["jwks_uri"])
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.ack = []
        self.revoked = {}  # sid -> when it was revoked

    def poll(self, return_immediately):
        """One poll (a long one unless `return_immediately`); returns the
        sids it learnt were revoked."""
        body = {"ack": self.ack, "maxEvents": 100, "returnImmediately": return_immediately}
        response = self.session.post(f"{BASE}/events/poll", json=body, timeout=35)
        response.raise_for_status()
        answer = response.json()
        self.ack = []
        learnt = []
        for jti, set_token in answer["sets"].items():
            header = jwt.get_unverified_header(set_token)
            assert header["typ"] == "secevent+jwt", header
            key = self.keys.get_signing_key_from_jwt(set_token)
            claims = jwt.decode(
                set_token,
                key.key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["iss", "iat", "jti", "aud"]},
            )
            assert claims["jti"] == jti, claims
            event = claims["events"].get(SESSION_REVOKED)
            if event is not None and claims["sub_id"]["format"] == "opaque":
                sid = claims["sub_id"]["id"]
                self.revoked[sid] = event["event_timestamp"]
                learnt.append(sid)
            self.ack.append(jti)
        return learnt, answer["moreAvailable"]

    def drain(self):
        """Takes every pending event, and acknowledges them all."""
        more = True
        while more or self.ack:
            _, more = self.poll(return_immediately=True)

    def accepts(self, access_token):
        """The resource server's check: signature and claims from the JWKS,
        then the session not revoked."""
        key = self.keys.get_signing_key_from_jwt(access_token)
        claims = jwt.decode(
            access_token, key.key, algorithms=self.algorithms, audience="tollgate", issuer=self.issuer
        )
        return claims.get("sid") not in self.revoked


def main():
    admin = (os.environ["E2E_ADMIN_USER"], os.environ["E2E_ADMIN_PASSWORD"])
    receiver_token = login(os.environ["E2E_EVENTS_USER"], os.environ["E2E_EVENTS_PASSWORD"], "events")
    receiver = Receiver(receiver_token["access_token"])
    receiver.drain()

    victim = login(*admin, "read:items")
    bystander = login(*admin, "read:items")
    assert receiver.accepts(victim["access_token"]) and receiver.accepts(bystander["access_token"])

    # A long poll waiting when the session ends: it answers with the event.
    learnt = []
    answered = {}

    def wait_for_event():
        while not learnt:
            learnt.extend(receiver.poll(return_immediately=False)[0])
        answered["at"] = time.monotonic()

    waiting = threading.Thread(target=wait_for_event)
    waiting.start()
    time.sleep(0.5)
    response = requests.post(f"{BASE}/token/revoke", data={"token": victim["refresh_token"]}, timeout=10)
    assert response.status_code == 200, response.text
    revoked_at = time.monotonic()
    waiting.join(timeout=60)
    assert not waiting.is_alive(), "the long poll did not answer"
    took = max(answered["at"] - revoked_at, 0.0)
    victim_sid = jwt.decode(victim["access_token"], options={"verify_signature": False})["sid"]
    assert victim_sid in learnt, (victim_sid, learnt)
    print(
        "  [events] the waiting long poll answered with the session-revoked SET "
        f"within {took * 1000:.0f} ms of the revocation's answer"
    )
    if receiver.accepts(victim["access_token"]):
        sys.exit("the revoked session's token is still accepted")
    assert receiver.accepts(bystander["access_token"]), "another session of the user was refused"
    print("  [events] SET verified with PyJWKClient; the revoked session's token is refused, another accepted")

    # The acknowledgement goes with the next poll; then nothing comes again.
    receiver.poll(return_immediately=True)
    again, _ = receiver.poll(return_immediately=True)
    assert again == [], again
    print("  [events] acknowledged events are not sent again")


if __name__ == "__main__":
    main()
