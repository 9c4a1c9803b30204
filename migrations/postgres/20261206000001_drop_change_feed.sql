-- Every node now reads the bearer check's rows from the database at each
-- request (docs/decisions.md, "Several nodes"): the change feed that let
-- nodes keep them in memory is gone.
DROP FUNCTION IF EXISTS tollgate_node_heard(BIGINT, BIGINT);
DROP FUNCTION IF EXISTS tollgate_node_beat(BIGINT, DOUBLE PRECISION, TEXT, TEXT);
DROP FUNCTION IF EXISTS tollgate_changed();
DROP SEQUENCE IF EXISTS changes;
DROP TABLE IF EXISTS cache_nodes;
