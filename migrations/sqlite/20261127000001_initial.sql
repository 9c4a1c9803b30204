-- tollgate's schema. Kept to SQL that SQLite and PostgreSQL both read where that
-- costs nothing: integer unix-second timestamps, TEXT and INTEGER columns,
-- ON CONFLICT upserts.

-- Key/value settings shared by every process on this database (the generated
-- signing secret lives here when TOLLGATE_JWT_SECRET is not set).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- AUTOINCREMENT: a deleted user's id is never handed out again, so a token
-- minted for the old user can never name the new one.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    -- lower-cased username: uniqueness and login ignore case
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT,
    full_name     TEXT,
    password_hash TEXT    NOT NULL,
    -- space-delimited, canonical order
    scopes        TEXT    NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    -- bumped on password, scope or disabled changes and on logout-all;
    -- access tokens and token families carry the version they were minted at
    token_version INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);

CREATE TABLE items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE INDEX items_owner_id ON items (owner_id, id);

-- One row per login: every refresh token and access token descends from one
-- family, and revoking the family ends them all.
CREATE TABLE token_families (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_version INTEGER NOT NULL,
    -- the scopes granted at login; a refresh may narrow them, never widen
    scope        TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    -- absolute end of the session: rotation does not extend it
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE INDEX token_families_user_id ON token_families (user_id);
CREATE INDEX token_families_expires_at ON token_families (expires_at);

-- Refresh tokens, stored only as the hex SHA-256 of the token.
CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY NOT NULL,
    family_id  INTEGER NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    spent_at   INTEGER
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Failed-login counters, per username ("user:<name>") and per client address
-- ("addr:<ip>"), shared by every process on this database.
CREATE TABLE login_failures (
    key          TEXT    PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    -- in milliseconds: a one-second lock must last a second
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX login_failures_updated_at ON login_failures (updated_at);
