-- The login proof's read: one row of a migrated table, as the application role.
SELECT count(*) AS rows FROM (SELECT 1 FROM {table} LIMIT 1) AS one
