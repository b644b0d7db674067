-- The columns of the given tables, in order: type, default or generation expression, identity, NOT NULL.
SELECT n.nspname                                               AS schema,
       c.relname                                               AS "table",
       a.attname                                               AS "column",
       quote_ident(a.attname)                                  AS qcolumn,
       format_type(a.atttypid, a.atttypmod)                    AS type,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END  AS "default",
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated,
       a.attgenerated::text                                    AS generated_kind,
       a.attidentity::text                                     AS identity,
       a.attnotnull                                            AS not_null
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, t) ON u.s = n.nspname AND u.t = c.relname
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0
  AND NOT a.attisdropped
ORDER BY 1, 2, a.attnum
