-- On A: materialized views in the migrated schemas (all user schemas when every table is migrated). The schema
-- copy creates them on C, but logical replication does not fill them.
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
  AND (%(all)s OR n.nspname = ANY (%(schemas)s::text[]))
ORDER BY 1, 2
