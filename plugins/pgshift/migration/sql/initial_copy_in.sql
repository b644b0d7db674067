-- On C: one range's rows into the table (its indexes and constraints are built after the data).
COPY {table} ({columns}) FROM STDIN (FORMAT {format})
