"""Schemathesis hooks for tollgate's end-to-end run (loaded through
SCHEMATHESIS_HOOKS by e2e/run.sh).

The problem: schemathesis calls every operation with the admin token it is
given, and several operations can take that token away from it on purpose:
`POST /users/me/logout-all` revokes it, `PATCH /users/{id}` with the token
owner's id changes its password, scopes or `disabled` flag (each ends its
tokens), `DELETE /users/{id}` deletes the owner. A fixed bearer header would
turn the rest of the run into a wall of 401s that test nothing.

The approach: no operation is excluded. The token comes from an auth provider
that schemathesis re-asks whenever a response is 401 (its default `retry_on`),
and then replays the request. The provider logs in as a dedicated admin
account ("fuzz-admin-N") asking for every scope; if that account no longer
works (deleted, disabled, password changed, scopes cut), it creates a fresh
one with the `tollgate user add` command line, which writes to the database
directly. That is the operator's way in, and nothing schemathesis sends over
HTTP can reach it. The account names are random, so no generated login can
lock one out through the per-username throttle. The bootstrap `admin` is left
to schemathesis like any other user.

One more hook, `before_call`, keeps generated *valid* passwords inside the
contract's rule, 8 to 72 bytes of UTF-8 (bcrypt's limit). JSON Schema counts
`minLength`/`maxLength` in characters, so the spec states that rule in the
field descriptions only, and a schema-valid string such as "" or 72 emoji
would be refused with 400 as the contract requires. Negative cases are left
alone, and every other field is generated as the spec says.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading

import requests
import schemathesis

BASE_URL = os.environ["E2E_BASE_URL"]
TOLLGATE_BIN = os.environ["E2E_TOLLGATE_BIN"]
# `events` too, so POST /events/poll is fuzzed past its scope check (see
# run.sh for why its polls answer at once).
ALL_SCOPES = "read:items write:items admin events"


@schemathesis.auth()
class FuzzAdmin:
    """An admin access token that heals itself (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.username: str | None = None
        self.password: str | None = None
        self.accounts = 0

    def get(self, case, context):
        with self.lock:
            token = self._login() if self.username else None
            if token is None:
                self._create_account()
                token = self._login()
            if token is None:
                raise RuntimeError(f"a freshly created admin ({self.username}) cannot log in")
            return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"

    def _login(self) -> str | None:
        response = requests.post(
            f"{BASE_URL}/token",
            data={
                "grant_type": "password",
                "username": self.username,
                "password": self.password,
                "scope": ALL_SCOPES,
            },
            timeout=30,
        )
        if response.status_code != 200:
            return None
        body = response.json()
        if set(body["scope"].split()) != set(ALL_SCOPES.split()):
            return None
        return body["access_token"]

    def _create_account(self) -> None:
        self.accounts += 1
        self.username = f"fuzz-admin-{self.accounts}-{secrets.token_hex(6)}"
        self.password = secrets.token_urlsafe(24)
        subprocess.run(
            [TOLLGATE_BIN, "user", "add", self.username, "--scopes", ALL_SCOPES, "--password-stdin"],
            input=self.password + "\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=60,
        )


# (method, path) -> the body field holding a new password.
PASSWORD_FIELDS = {
    ("POST", "/users"): "password",
    ("PATCH", "/users/{id}"): "password",
    ("PUT", "/users/me/password"): "new_password",
}
MIN_PASSWORD_BYTES, MAX_PASSWORD_BYTES = 8, 72


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _within_password_bytes(password: str) -> str:
    while _utf8_len(password) > MAX_PASSWORD_BYTES:
        password = password[:-1]
    return password + "x" * max(0, MIN_PASSWORD_BYTES - _utf8_len(password))


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    field = PASSWORD_FIELDS.get((case.method.upper(), case.path))
    meta = case.meta
    if field is None or meta is None or not meta.generation.mode.is_positive:
        return
    if isinstance(case.body, dict) and isinstance(case.body.get(field), str):
        case.body[field] = _within_password_bytes(case.body[field])
