-- A compromised key (`tollgate keys rotate --now`, `tollgate keys revoke`)
-- neither signs nor verifies from revoked_at on, and leaves the JWKS; the
-- row stays until pruned, for `tollgate keys list`.
ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;

-- Bumped by every write to signing_keys: each node rereads this one row
-- every second and the keys only when it moved, so a rotation or revocation
-- reaches every node within 2 s.
CREATE TABLE signing_keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);

CREATE FUNCTION tollgate_signing_keys_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE signing_keys_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER signing_keys_changed
    AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION tollgate_signing_keys_changed();
