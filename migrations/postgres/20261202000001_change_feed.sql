-- The change feed (src/db/feed.rs): the nodes that keep the bearer check's
-- rows and item pages in memory, and how far each has heard of the commits
-- that could change them.
CREATE TABLE cache_nodes (
    id          BIGSERIAL   PRIMARY KEY,
    -- the backend of the node's listening connection (pg_backend_pid()):
    -- once it is gone, the node hears nothing and keeps nothing
    pid         INTEGER     NOT NULL,
    -- the node keeps rows only while this is in the future
    lease_until TIMESTAMPTZ NOT NULL,
    -- the highest change the node has heard of, and emptied its cache for
    seen        BIGINT      NOT NULL
);

CREATE SEQUENCE changes;

-- Called after a commit that could change a cached row: numbers the change
-- and announces it on the channel every node listens on.
CREATE FUNCTION tollgate_changed() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    change BIGINT := nextval('changes');
BEGIN
    PERFORM pg_notify('tollgate_changes', change::text);
    RETURN change;
END
$$;

-- A node's heartbeat: extends its lease, then tells the node so on its own
-- channel. false if the node's row is gone.
CREATE FUNCTION tollgate_node_beat(node BIGINT, lease_secs DOUBLE PRECISION, channel TEXT, payload TEXT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_nodes SET lease_until = now() + make_interval(secs => lease_secs) WHERE id = node;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify(channel, payload);
    RETURN true;
END
$$;

-- A node has heard of changes up to `change` and emptied its caches: record
-- it, and wake the writers waiting for it. false if the node's row is gone.
CREATE FUNCTION tollgate_node_heard(node BIGINT, change BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_nodes SET seen = GREATEST(seen, change) WHERE id = node;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('tollgate_heard', change::text);
    RETURN true;
END
$$;
