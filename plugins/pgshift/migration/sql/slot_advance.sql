-- On B: the logical slot's confirmed position moved forward to L, where B's replay is frozen: its consumer then
-- receives exactly the transactions whose commit record starts at or after L, i.e. none that B had replayed.
SELECT end_lsn::text AS lsn FROM pg_replication_slot_advance(%(slot)s, %(lsn)s::pg_lsn)
