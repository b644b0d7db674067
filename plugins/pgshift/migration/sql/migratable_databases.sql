-- The databases a chain can migrate: not a template, connections allowed (databases ['*'] means these).
SELECT datname AS name
FROM pg_database
WHERE NOT datistemplate
  AND datallowconn
ORDER BY datname
