-- A transaction with an xid and nothing else: its synchronous commit flushes all WAL written before it,
-- including the apply worker's asynchronous commits, which it confirms upstream only once flushed.
SELECT pg_current_xact_id()::text AS xid
