-- On B: the connection string its WAL receiver reaches A with (the WAL receiver restarts with it at reload).
ALTER SYSTEM SET primary_conninfo = %s
