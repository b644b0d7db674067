-- On B (frozen at L): one range of blocks of one table, as COPY carries it; ctid ranges are read by a TID range
-- scan (PostgreSQL >= 14), whatever the table's keys. ONLY: a leaf partition's own rows.
COPY (SELECT {columns} FROM ONLY {table} WHERE ctid >= %(low)s::tid AND ctid < %(high)s::tid) TO STDOUT (FORMAT {format})
