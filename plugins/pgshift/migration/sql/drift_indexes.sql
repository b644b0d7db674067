-- The indexes of the given tables that no constraint of the table owns (those come with their constraint), as
-- pg_get_indexdef writes them, only where asked (A's; see drift_constraints.sql).
SELECT n.nspname                                AS schema,
       c.relname                                AS "table",
       i.relname                                AS name,
       format('%%I.%%I', n.nspname, i.relname)  AS qname,
       CASE WHEN %(definitions)s THEN pg_get_indexdef(x.indexrelid) END AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, t) ON u.s = n.nspname AND u.t = c.relname
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid)
ORDER BY 1, 2, 3
