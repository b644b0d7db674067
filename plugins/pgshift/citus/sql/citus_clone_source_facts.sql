-- On the worker a clone is taken from: what pg_basebackup and the clone's replication need (read-only).
SELECT current_setting('server_version_num')::integer AS server_version_num,
       current_setting('server_version') AS server_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus_extversion,
       pg_is_in_recovery() AS in_recovery,
       current_setting('wal_level') AS wal_level,
       current_setting('max_wal_senders')::integer AS max_wal_senders,
       (SELECT count(*) FROM pg_stat_replication)::integer AS senders_used,
       current_setting('max_replication_slots')::integer AS max_replication_slots,
       (SELECT count(*) FROM pg_replication_slots)::integer AS slots_used,
       (SELECT sum(pg_database_size(d.oid)) FROM pg_database AS d WHERE d.datallowconn)::bigint AS cluster_bytes
