-- On A: unlogged tables in scope, partitions included (matched by their partition tree's root). Their changes
-- are not WAL-logged, so logical replication never publishes them.
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.relkind = 'r'
  AND c.relpersistence = 'u'
  AND rn.nspname NOT IN ('pg_catalog', 'information_schema')
  AND rn.nspname NOT LIKE 'pg\_%%'
  AND (%(all)s
       OR rn.nspname = ANY (%(schemas)s::text[])
       OR (rn.nspname, r.relname) IN (SELECT s, t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t)))
ORDER BY 1, 2
