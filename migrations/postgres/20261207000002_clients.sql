-- Registered OAuth2 clients (RFC 6749 §2). `id` orders the admin list's
-- pages; `client_id` is what requests and tokens name.
CREATE TABLE clients (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL DEFAULT '',
    -- `confidential` or `public`
    client_type TEXT    NOT NULL,
    -- client_secret_basic, client_secret_post, private_key_jwt or none
    auth_method TEXT    NOT NULL,
    -- space-delimited: password, refresh_token, client_credentials
    grant_types TEXT    NOT NULL,
    -- space-delimited, canonical order: the most a token through it carries
    scopes      TEXT    NOT NULL DEFAULT '',
    -- the public keys of private_key_jwt, as an RFC 7517 JWK Set (JSON)
    jwks        TEXT,
    -- hex SHA-256 of the generated secret, for the secret methods only
    secret_hash TEXT,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    -- carried by the client's own (client_credentials) tokens; bumped by a
    -- new secret, a change of scopes and disabling, which void them
    token_version BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT  NOT NULL
);

-- The `jti` of every private_key_jwt assertion accepted, until its `exp`:
-- the primary key refuses a replay on any process or node.
CREATE TABLE client_assertions (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
CREATE INDEX token_families_client_id ON token_families (client_id);
