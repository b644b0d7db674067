-- On B: has B replayed the LSN, and has the slot's consumer (C or DMS) confirmed it?
SELECT pg_last_wal_replay_lsn() >= %(lsn)s::pg_lsn                       AS replayed,
       pg_last_wal_replay_lsn()::text                                    AS replay_lsn,
       (SELECT confirmed_flush_lsn >= %(lsn)s::pg_lsn FROM pg_replication_slots
         WHERE slot_name = %(slot)s)                                     AS confirmed,
       (SELECT confirmed_flush_lsn::text FROM pg_replication_slots
         WHERE slot_name = %(slot)s)                                     AS confirmed_flush_lsn
