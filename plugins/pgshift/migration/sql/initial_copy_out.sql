-- On B (frozen at L): one range of blocks of one table, as COPY carries it; ctid ranges are read by a TID range
-- scan (PostgreSQL >= 14), whatever the table's keys. ONLY: a leaf partition's own rows. The bounds are literals:
-- psql runs it (pgshift.migration.setup.initial_copy.relay).
COPY (SELECT {columns} FROM ONLY {table} WHERE ctid >= {low}::tid AND ctid < {high}::tid) TO STDOUT (FORMAT {format})
