-- Whether this session starts read-only (A once fenced): the moving application looks for a writable server.
SHOW transaction_read_only
