-- Which of the given (schema, table) pairs already exist here.
SELECT u.s AS schema, u.t AS "table"
FROM unnest(%(tschemas)s::text[], %(tnames)s::text[]) AS u(s, t)
JOIN pg_namespace n ON n.nspname = u.s
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = u.t AND c.relkind IN ('r', 'p')
ORDER BY 1, 2
