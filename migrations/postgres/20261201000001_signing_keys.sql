-- Signing keys for the asymmetric algorithms (RS256, ES256, EdDSA), shared by
-- every node on this database. A key is published (in the JWKS) from
-- created_at, signs from activates_at until retires_at, and is deleted once
-- every token it signed has expired.
CREATE TABLE signing_keys (
    -- RFC 7638 thumbprint of the public key
    kid               TEXT   PRIMARY KEY,
    alg               TEXT   NOT NULL,
    -- PKCS#8 DER, sealed with the key-encryption key named by
    -- encryption_key_id when there is one
    private_key       BYTEA  NOT NULL,
    encryption_key_id TEXT,
    -- the public key as a JWK (JSON), as the JWKS publishes it
    public_jwk        TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    activates_at      BIGINT NOT NULL,
    retires_at        BIGINT
);
