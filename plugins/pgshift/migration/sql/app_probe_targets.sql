-- What an application role would read and write in the login proof: the first table in scope it may SELECT,
-- and the first (table, column) it may both SELECT (table-wide: the row is found by ctid) and UPDATE.
-- %(role)s NULL: the role of this session.
WITH r AS (SELECT coalesce(%(role)s, current_user)::name AS role),
t AS (
    SELECT n.nspname AS schema, c.relname AS name, c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace, r
    WHERE c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%%'
      AND has_schema_privilege(r.role, n.oid, 'USAGE')
      AND (%(all)s
           OR n.nspname = ANY (%(schemas)s::text[])
           OR (n.nspname, c.relname) IN (SELECT s, t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t)))
)
SELECT (SELECT ARRAY[t.schema, t.name]::text[]
        FROM t, r
        WHERE has_table_privilege(r.role, t.oid, 'SELECT')
        ORDER BY t.schema, t.name LIMIT 1) AS read_target,
       (SELECT ARRAY[t.schema, t.name, a.attname]::text[]
        FROM t
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '', r
        WHERE has_table_privilege(r.role, t.oid, 'SELECT')
          AND has_column_privilege(r.role, t.oid, a.attnum, 'UPDATE')
        ORDER BY t.schema, t.name, a.attnum LIMIT 1) AS write_target
