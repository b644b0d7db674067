-- Preflight on C, with the way back on: can C publish to A (settings, a free slot and walsender), and are the
-- way back's slot and publication already there?
SELECT current_setting('wal_level')                                         AS wal_level,
       current_setting('rds.logical_replication', true)                     AS rds_logical_replication,
       current_setting('max_replication_slots')::int                        AS max_replication_slots,
       (SELECT count(*) FROM pg_replication_slots)::int                     AS slots_used,
       current_setting('max_wal_senders')::int                              AS max_wal_senders,
       (SELECT count(*) FROM pg_stat_replication)::int                      AS senders_used,
       current_setting('max_slot_wal_keep_size')                            AS max_slot_wal_keep_size,
       EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %(slot)s) AS slot_exists,
       EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %(publication)s)  AS publication_exists
