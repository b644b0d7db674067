-- The views and materialized views that read the given tables; their definitions only where asked (A's: the
-- statement that makes one on C), because pg_get_viewdef locks the tables a view reads, and the comparison runs
-- before the cutover's fence, where a session holding a table of C must not hold the cutover up.
SELECT DISTINCT v.relkind::text                          AS kind,
       vn.nspname                                        AS schema,
       v.relname                                         AS name,
       format('%%I.%%I', vn.nspname, v.relname)          AS qname,
       CASE WHEN %(definitions)s THEN pg_get_viewdef(v.oid) END AS definition
FROM pg_depend d
JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class AND v.relkind IN ('v', 'm')
JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_class c ON d.refclassid = 'pg_class'::regclass AND c.oid = d.refobjid AND c.oid <> v.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, t) ON u.s = n.nspname AND u.t = c.relname
ORDER BY 2, 3
