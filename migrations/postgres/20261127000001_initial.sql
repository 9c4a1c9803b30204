-- tollgate's schema on PostgreSQL: the same tables, columns and meanings as
-- migrations/sqlite/, in PostgreSQL's types. Timestamps stay integer unix
-- seconds (milliseconds where the name says so), so both engines hold the
-- same values and every query reads them alike.

-- Key/value settings shared by every node on this database (the generated
-- signing secret lives here when TOLLGATE_JWT_SECRET is not set).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Identity columns never hand a deleted user's id out again, so a token
-- minted for the old user can never name the new one.
CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL,
    -- lower-cased username: uniqueness and login ignore case
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT,
    full_name     TEXT,
    password_hash TEXT    NOT NULL,
    -- space-delimited, canonical order
    scopes        TEXT    NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    -- bumped on password, scope or disabled changes and on logout-all;
    -- access tokens and token families carry the version they were minted at
    token_version BIGINT  NOT NULL DEFAULT 1,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE items (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX items_owner_id ON items (owner_id, id);

-- One row per login: every refresh token and access token descends from one
-- family, and revoking the family ends them all.
CREATE TABLE token_families (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_version BIGINT NOT NULL,
    -- the scopes granted at login; a refresh may narrow them, never widen
    scope        TEXT   NOT NULL,
    client_id    TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    -- absolute end of the session: rotation does not extend it
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE INDEX token_families_user_id ON token_families (user_id);
CREATE INDEX token_families_expires_at ON token_families (expires_at);

-- Refresh tokens, stored only as the hex SHA-256 of the token.
CREATE TABLE refresh_tokens (
    token_hash TEXT   PRIMARY KEY,
    family_id  BIGINT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    spent_at   BIGINT
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Failed-attempt counters (see src/auth/throttle.rs for the keys), shared by
-- every node on this database.
CREATE TABLE login_failures (
    key             TEXT   PRIMARY KEY,
    failures        BIGINT NOT NULL,
    -- in milliseconds: a one-second lock must last a second
    locked_until_ms BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX login_failures_updated_at ON login_failures (updated_at);
