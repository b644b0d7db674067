-- A schema comparison's tables: scope_tables.sql's rule (ordinary and partitioned tables, no partitions), with
-- their quoted names and partition keys. DMS's control tables (awsdms_*) are DMS's, not the application's.
SELECT n.nspname                                   AS schema,
       c.relname                                   AS "table",
       format('%%I.%%I', n.nspname, c.relname)     AS qname,
       pg_get_partkeydef(c.oid)                    AS partition_key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
  AND c.relname NOT LIKE 'awsdms\_%%'
  AND (%(all)s
       OR n.nspname = ANY (%(schemas)s::text[])
       OR (n.nspname, c.relname) IN (SELECT s, t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t)))
ORDER BY 1, 2
