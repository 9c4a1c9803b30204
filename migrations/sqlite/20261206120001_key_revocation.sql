-- A compromised key (`tollgate keys rotate --now`, `tollgate keys revoke`)
-- neither signs nor verifies from revoked_at on, and leaves the JWKS; the
-- row stays until pruned, for `tollgate keys list`.
ALTER TABLE signing_keys ADD COLUMN revoked_at INTEGER;

-- Bumped by every write to signing_keys: each process rereads this one row
-- every second and the keys only when it moved, so a rotation or revocation
-- reaches every process within 2 s.
CREATE TABLE signing_keys_version (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);

CREATE TRIGGER signing_keys_inserted AFTER INSERT ON signing_keys
BEGIN
    UPDATE signing_keys_version SET version = version + 1;
END;
CREATE TRIGGER signing_keys_updated AFTER UPDATE ON signing_keys
BEGIN
    UPDATE signing_keys_version SET version = version + 1;
END;
CREATE TRIGGER signing_keys_deleted AFTER DELETE ON signing_keys
BEGIN
    UPDATE signing_keys_version SET version = version + 1;
END;
