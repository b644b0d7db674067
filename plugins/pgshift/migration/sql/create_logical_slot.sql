-- On B (a standby): waits for a running-xacts record from A before it returns.
SELECT slot_name::text, lsn::text FROM pg_create_logical_replication_slot(%s, %s)
