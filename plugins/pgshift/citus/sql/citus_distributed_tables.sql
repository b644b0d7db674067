-- Hash-distributed tables, by schema and name (reference tables are copies on every node).
SELECT n.nspname AS schema_name, c.relname AS table_name
FROM pg_dist_partition AS p
     JOIN pg_class AS c ON c.oid = p.logicalrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE p.partmethod = 'h'
ORDER BY 1, 2
