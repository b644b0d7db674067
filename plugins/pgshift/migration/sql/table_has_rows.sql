-- Whether a table holds any row (one page read at most).
SELECT EXISTS (SELECT 1 FROM {table}) AS has_rows
