-- Preflight: what a server is and how it is configured (read-only).
SELECT current_setting('server_version_num')::int        AS version_num,
       current_setting('server_version')                 AS version,
       current_setting('wal_level')                      AS wal_level,
       current_setting('max_wal_senders')::int           AS max_wal_senders,
       current_setting('max_replication_slots')::int     AS max_replication_slots,
       current_setting('hot_standby_feedback')           AS hot_standby_feedback,
       (SELECT count(*) FROM pg_replication_slots)::int  AS slots_used,
       (SELECT count(*) FROM pg_stat_replication)::int   AS senders_used,
       pg_is_in_recovery()                               AS in_recovery,
       current_database()                                AS database,
       current_user                                      AS "user"
