-- On B: is it a standby, and is its WAL receiver streaming? (pg_current_wal_lsn() fails here.)
SELECT pg_is_in_recovery()                                                        AS in_recovery,
       w.status,
       w.slot_name,
       w.sender_host,
       w.sender_port,
       pg_last_wal_receive_lsn()::text                                            AS receive_lsn,
       pg_last_wal_replay_lsn()::text                                             AS replay_lsn,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS replay_backlog_bytes,
       extract(epoch FROM now() - w.last_msg_receipt_time)::float8                AS since_last_msg_s
FROM (SELECT 1) AS one
LEFT JOIN pg_stat_wal_receiver w ON true
