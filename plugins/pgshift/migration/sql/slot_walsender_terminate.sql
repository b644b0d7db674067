-- Before dropping a slot still streamed from (B's physical slot on A): end the walsender using it.
SELECT pg_terminate_backend(active_pid) AS terminated
FROM pg_replication_slots
WHERE slot_name = %s AND active_pid IS NOT NULL
