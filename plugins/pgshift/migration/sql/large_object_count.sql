-- On A: large objects in this database. Logical replication does not carry them (pg_largeobject is a catalog).
SELECT count(*) AS large_objects FROM pg_largeobject_metadata
