-- The enum types of a scope, with their values in order: those in its schemas (every schema for all tables), and
-- those a column of the given tables has.
SELECT n.nspname                                                   AS schema,
       t.typname                                                   AS name,
       format('%%I.%%I', n.nspname, t.typname)                     AS qname,
       array_agg(e.enumlabel::text ORDER BY e.enumsortorder)       AS labels,
       array_agg(quote_literal(e.enumlabel) ORDER BY e.enumsortorder) AS qlabels
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
  AND (%(all)s
       OR n.nspname = ANY (%(schemas)s::text[])
       OR EXISTS (SELECT 1
                    FROM pg_attribute a
                    JOIN pg_class c ON c.oid = a.attrelid
                    JOIN pg_namespace cn ON cn.oid = c.relnamespace
                    JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, r)
                      ON u.s = cn.nspname AND u.r = c.relname
                   WHERE a.atttypid = t.oid AND a.attnum > 0 AND NOT a.attisdropped))
GROUP BY 1, 2, 3
ORDER BY 1, 2
