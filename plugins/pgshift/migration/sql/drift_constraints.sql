-- The constraints of the given tables (primary key, unique, check, foreign key, exclusion; NOT NULL is the
-- column's); their definitions (pg_get_constraintdef) only where asked (A's: the statement that makes one on C),
-- because pg_get_constraintdef locks the table, and the comparison must not wait behind a session holding a table
-- of C before the cutover's fence.
SELECT n.nspname                      AS schema,
       c.relname                      AS "table",
       k.conname                      AS name,
       quote_ident(k.conname)         AS qname,
       k.contype::text                AS kind,
       CASE WHEN %(definitions)s THEN pg_get_constraintdef(k.oid) END AS definition
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN unnest(%(rel_schemas)s::text[], %(rel_names)s::text[]) AS u(s, t) ON u.s = n.nspname AND u.t = c.relname
WHERE k.contype IN ('p', 'u', 'c', 'f', 'x')
ORDER BY 1, 2, 3
