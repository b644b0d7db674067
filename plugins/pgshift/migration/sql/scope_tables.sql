-- The ordinary tables a publication would carry: all, or those in the given schemas / tables; with their names as
-- the server quotes them and their partition keys (a schema comparison's CREATE TABLE: pgshift.migration.schema).
SELECT n.nspname                                                           AS schema,
       c.relname                                                           AS "table",
       format('%%I.%%I', n.nspname, c.relname)                             AS qname,
       pg_get_partkeydef(c.oid)                                            AS partition_key,
       c.relreplident                                                      AS replica_identity,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)  AS has_pk,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS has_identity_index,
       has_table_privilege(%(role)s, c.oid, 'SELECT')                      AS role_can_select,
       c.relrowsecurity                                                    AS row_security
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
  AND (%(all)s
       OR n.nspname = ANY (%(schemas)s::text[])
       OR (n.nspname, c.relname) IN (SELECT s, t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t)))
ORDER BY 1, 2
