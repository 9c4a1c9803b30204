"""Uses the Python client that openapi-python-client generated from
openapi/openapi.json (e2e/run.sh generates it into e2e/out/client/ first):
no hand-written HTTP here, every call goes through the generated code.

Environment: E2E_BASE_URL, E2E_CLIENT_USER, E2E_CLIENT_PASSWORD (a user
holding read:items and write:items), E2E_CLIENT_DIR (the folder holding the
generated `tollgate_client` package), E2E_POST_CLIENT_ID and
E2E_POST_CLIENT_SECRET (a client_secret_post client allowed
client_credentials, holding admin).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ["E2E_CLIENT_DIR"])

from tollgate_client import AuthenticatedClient, Client  # noqa: E402
from tollgate_client.api.items import create_item, get_item, list_items  # noqa: E402
from tollgate_client.api.me import get_me  # noqa: E402
from tollgate_client.api.token import issue_token  # noqa: E402
from tollgate_client.api.users import list_users  # noqa: E402
from tollgate_client.models import (  # noqa: E402
    ErrorBody,
    Item,
    ItemPage,
    NewItem,
    Scope,
    TokenBody,
    TokenRequest,
    TokenRequestGrantType,
    User,
    UserPage,
)

BASE = os.environ["E2E_BASE_URL"]
USER = os.environ["E2E_CLIENT_USER"]
PASSWORD = os.environ["E2E_CLIENT_PASSWORD"]


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"  [client] FAILED: {message}")


def say(message: str) -> None:
    print(f"  [client] {message}", flush=True)


anonymous = Client(base_url=BASE, raise_on_unexpected_status=True)

# POST /token, as a form body, through the generated TokenRequest model.
wrong = issue_token.sync_detailed(
    client=anonymous, body=TokenRequest(grant_type=TokenRequestGrantType.PASSWORD, username=USER, password="not-the-password")
)
check(
    wrong.status_code == 400 and isinstance(wrong.parsed, ErrorBody) and wrong.parsed.error == "invalid_grant",
    f"a wrong password should parse as ErrorBody invalid_grant, got {wrong.status_code} {wrong.parsed!r}",
)
say("POST /token with a wrong password: 400 ErrorBody(error='invalid_grant')")

issued = issue_token.sync_detailed(
    client=anonymous,
    body=TokenRequest(grant_type=TokenRequestGrantType.PASSWORD, username=USER, password=PASSWORD, scope="read:items write:items"),
)
check(
    issued.status_code == 200 and isinstance(issued.parsed, TokenBody),
    f"POST /token answered {issued.status_code}: {issued.content!r}",
)
token = issued.parsed
check(token.token_type == "bearer" and token.scope == "read:items write:items", f"unexpected token body {token!r}")
check(issued.headers.get("cache-control") == "no-store", "the token response lacks Cache-Control: no-store")
say(f"POST /token: 200 TokenBody(scope={token.scope!r}, expires_in={token.expires_in})")

authed = AuthenticatedClient(base_url=BASE, token=token.access_token, raise_on_unexpected_status=True)

me = get_me.sync(client=authed)
check(isinstance(me, User) and me.username == USER, f"GET /users/me gave {me!r}")
check({Scope.READITEMS, Scope.WRITEITEMS} <= set(me.scopes), f"unexpected scopes {me.scopes!r}")
say(f"GET /users/me: User(id={me.id}, username={me.username!r}, scopes={[str(s) for s in me.scopes]})")

created = create_item.sync_detailed(
    client=authed, body=NewItem(name="made by the generated client", description="from e2e/client_check.py")
)
check(
    created.status_code == 201 and isinstance(created.parsed, Item),
    f"POST /items answered {created.status_code}: {created.content!r}",
)
item = created.parsed
check(created.headers.get("location") == f"/items/{item.id}", f"Location is {created.headers.get('location')!r}")
check(item.created_at.tzinfo is not None, "created_at is not a UTC timestamp")
say(f"POST /items: 201 Item(id={item.id}, name={item.name!r}), Location {created.headers['location']}")

page = list_items.sync(client=authed, limit=200)
check(isinstance(page, ItemPage), f"GET /items gave {page!r}")
check(any(listed.id == item.id and listed.name == item.name for listed in page.data), "the new item is not listed")
say(f"GET /items: ItemPage with {len(page.data)} item(s), the new one among them")

again = get_item.sync(client=authed, id=item.id)
check(isinstance(again, Item) and again.description == "from e2e/client_check.py", f"GET /items/{{id}} gave {again!r}")
say(f"GET /items/{item.id}: the same item")

# client_credentials through the same generated TokenRequest model, with the
# client's id and secret in the form (client_secret_post).
machine = issue_token.sync_detailed(
    client=anonymous,
    body=TokenRequest(
        grant_type=TokenRequestGrantType.CLIENT_CREDENTIALS,
        client_id=os.environ["E2E_POST_CLIENT_ID"],
        client_secret=os.environ["E2E_POST_CLIENT_SECRET"],
    ),
)
check(
    machine.status_code == 200 and isinstance(machine.parsed, TokenBody),
    f"POST /token (client_credentials) answered {machine.status_code}: {machine.content!r}",
)
check(not machine.parsed.refresh_token, "a client_credentials answer carries a refresh token")
say(f"POST /token client_credentials: 200 TokenBody(scope={machine.parsed.scope!r}), no refresh token")
as_client = AuthenticatedClient(base_url=BASE, token=machine.parsed.access_token, raise_on_unexpected_status=True)
users = list_users.sync(client=as_client)
check(isinstance(users, UserPage) and any(u.username == USER for u in users.data), f"GET /users gave {users!r}")
say(f"GET /users with the client token: UserPage with {len(users.data)} user(s)")
refused = get_me.sync_detailed(client=as_client)
check(
    refused.status_code == 403 and isinstance(refused.parsed, ErrorBody) and refused.parsed.error == "forbidden",
    f"GET /users/me with a client token gave {refused.status_code} {refused.parsed!r}",
)
say("GET /users/me with the client token: 403 ErrorBody(error='forbidden')")
