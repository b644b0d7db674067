-- On A: unlogged tables in scope. Their changes are not WAL-logged, so logical replication never publishes them.
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND c.relpersistence = 'u'
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
  AND (%(all)s
       OR n.nspname = ANY (%(schemas)s::text[])
       OR (n.nspname, c.relname) IN (SELECT s, t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t)))
ORDER BY 1, 2
