-- Each role's effective privileges (has_*_privilege: membership, PUBLIC and superuser included) on the migrated
-- objects of access_objects.sql, one line "<kind> <identity> <PRIVILEGE>" per privilege held, and the number
-- of (object, privilege) pairs checked. A column line is written only where the column's answer differs from
-- its table's. MAINTAIN (PostgreSQL 17) is not checked, so servers of 16 and 17 compare equal.
WITH schemas AS (
    SELECT n.oid, n.nspname, (%(all)s OR n.nspname = ANY (%(schemas)s::text[])) AS whole
    FROM pg_namespace n
    WHERE n.nspname <> 'information_schema'
      AND n.nspname NOT LIKE 'pg\_%%'
      AND (%(all)s OR n.nspname = ANY (%(schemas)s::text[]) OR n.nspname = ANY (%(tschemas)s::text[]))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                                                  AND d.objid = n.oid AND d.deptype = 'e')
), named AS (
    SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE (n.nspname, c.relname) IN (SELECT u.s, u.t FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t))
), objects AS (
    SELECT 'schema' AS kind, s.oid, format('%%I', s.nspname) AS identity
    FROM schemas s
    UNION ALL
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          ELSE 'table' END,
           c.oid, format('%%I.%%I', s.nspname, c.relname)
    FROM pg_class c
    JOIN schemas s ON s.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                  AND d.objid = c.oid AND d.deptype = 'e')
      AND (s.whole OR c.oid IN (SELECT oid FROM named)
           OR EXISTS (SELECT 1 FROM pg_depend d
                       WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
                         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                         AND d.refobjid IN (SELECT oid FROM named)))
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
           p.oid, format('%%I.%%I(%%s)', s.nspname, p.proname, oidvectortypes(p.proargtypes))
    FROM pg_proc p
    JOIN schemas s ON s.oid = p.pronamespace
    WHERE s.whole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                                  AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, t.oid, format('%%I.%%I', s.nspname, t.typname)
    FROM pg_type t
    JOIN schemas s ON s.oid = t.typnamespace
    WHERE s.whole
      AND (t.typtype IN ('e', 'd')
           OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                                                  AND d.objid = t.oid AND d.deptype = 'e')
), roles AS (
    SELECT oid, rolname FROM pg_roles WHERE rolname = ANY (%(roles)s::text[])
), answers AS (
    SELECT r.rolname, o.kind || ' ' || o.identity || ' ' || p.priv AS line,
           CASE WHEN o.kind = 'schema' THEN has_schema_privilege(r.oid, o.oid, p.priv)
                WHEN o.kind = 'sequence' THEN has_sequence_privilege(r.oid, o.oid, p.priv)
                WHEN o.kind IN ('function', 'procedure', 'aggregate') THEN has_function_privilege(r.oid, o.oid, p.priv)
                WHEN o.kind IN ('type', 'domain') THEN has_type_privilege(r.oid, o.oid, p.priv)
                ELSE has_table_privilege(r.oid, o.oid, p.priv) END AS held
    FROM roles r
    CROSS JOIN objects o
    CROSS JOIN LATERAL unnest(CASE
        WHEN o.kind = 'schema' THEN ARRAY['USAGE', 'CREATE']
        WHEN o.kind = 'sequence' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
        WHEN o.kind IN ('function', 'procedure', 'aggregate') THEN ARRAY['EXECUTE']
        WHEN o.kind IN ('type', 'domain') THEN ARRAY['USAGE']
        ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) AS p(priv)
), column_answers AS (
    SELECT r.rolname, 'column ' || o.identity || '.' || a.attname || ' ' || p.priv AS line,
           has_column_privilege(r.oid, o.oid, a.attnum, p.priv) AS held,
           has_table_privilege(r.oid, o.oid, p.priv) AS table_held
    FROM roles r
    CROSS JOIN objects o
    JOIN pg_attribute a ON a.attrelid = o.oid AND a.attnum > 0 AND NOT a.attisdropped
    CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) AS p(priv)
    WHERE o.kind IN ('table', 'view', 'materialized view')
), counted AS (
    SELECT rolname, line, held FROM answers
    UNION ALL
    SELECT rolname, line, held AND NOT table_held FROM column_answers
)
SELECT r.rolname AS role,
       coalesce(array_agg(c.line ORDER BY c.line) FILTER (WHERE c.held), '{}') AS held,
       count(c.line) AS checked
FROM roles r
LEFT JOIN counted c ON c.rolname = r.rolname
GROUP BY r.rolname
ORDER BY 1
