-- Revocation events (RFC 8417 SETs, RFC 8936 poll delivery).

-- The session id that access tokens carry as `sid`: random, so that it tells
-- nothing of how many logins there were. Families from before this migration
-- get one here; new ones are given one at login.
ALTER TABLE token_families ADD COLUMN sid TEXT;
UPDATE token_families SET sid = lower(hex(randomblob(16))) WHERE sid IS NULL;
CREATE UNIQUE INDEX token_families_sid ON token_families (sid);

-- A session ended by a user-wide change before this migration (a version
-- bump) counts as ended: ending it again writes no event.
UPDATE token_families SET revoked_at = created_at
 WHERE revoked_at IS NULL
   AND user_version <> (SELECT token_version FROM users WHERE users.id = token_families.user_id);

-- One row per ended session, written in the transaction that ended it. No
-- foreign keys: an event outlives its family and its user. Kept for one
-- access-token lifetime (the purge deletes older rows).
CREATE TABLE session_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- the SET's `jti`: random, what receivers acknowledge
    jti        TEXT    NOT NULL UNIQUE,
    sid        TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,
    family_id  INTEGER NOT NULL,
    -- what ended it (revoked, refresh_reuse, logout_all, user_changed, ...)
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX session_events_created_at ON session_events (created_at);

-- What each receiver has acknowledged; a receiver's queue is every event of
-- the window without a row here.
CREATE TABLE event_acks (
    receiver TEXT    NOT NULL,
    event_id INTEGER NOT NULL REFERENCES session_events (id) ON DELETE CASCADE,
    PRIMARY KEY (receiver, event_id)
);
CREATE INDEX event_acks_event_id ON event_acks (event_id);
