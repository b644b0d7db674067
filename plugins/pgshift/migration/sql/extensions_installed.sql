-- The extensions installed in this database, but plpgsql (always there), with their versions.
SELECT extname AS name, extversion AS version FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1
