-- The constraints of the given tables (primary key, unique, check, foreign key, exclusion; NOT NULL is the
-- column's), as pg_get_constraintdef writes them.
SELECT n.nspname                      AS schema,
       c.relname                      AS "table",
       k.conname                      AS name,
       quote_ident(k.conname)         AS qname,
       k.contype::text                AS kind,
       pg_get_constraintdef(k.oid)    AS definition
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, t) ON u.s = n.nspname AND u.t = c.relname
WHERE k.contype IN ('p', 'u', 'c', 'f', 'x')
ORDER BY 1, 2, 3
