-- The login proof's write: one row rewritten with its own value, as the application role, inside a transaction
-- that is rolled back.
WITH written AS (
    UPDATE {table} SET {column} = {column}
    WHERE ctid = (SELECT ctid FROM {table} LIMIT 1)
    RETURNING 1
)
SELECT count(*) AS rows FROM written
