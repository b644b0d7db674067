-- The columns of the given tables, in order: type, default or generation expression, identity, NOT NULL.
-- A default is deparsed without its table (relid 0: a default references no column), because pg_get_expr given
-- the table opens it with a lock, and the comparison runs before the cutover's fence, where a session holding a
-- table of C (a DBA's ALTER, a long lock) must not hold the cutover up; only a generation expression needs it.
SELECT n.nspname                                               AS schema,
       c.relname                                               AS "table",
       a.attname                                               AS "column",
       quote_ident(a.attname)                                  AS qcolumn,
       format_type(a.atttypid, a.atttypmod)                    AS type,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, 0) END          AS "default",
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
