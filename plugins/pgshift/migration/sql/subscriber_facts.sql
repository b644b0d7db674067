-- Preflight on A, with the way back on: can A take one more subscription (workers, replication origins), may
-- this session's role own it, and is a subscription of that name already there? Replication origins are
-- bounded by max_active_replication_origins from PostgreSQL 18, by max_replication_slots before it.
SELECT current_setting('server_version_num')::int                            AS version_num,
       current_setting('max_logical_replication_workers')::int               AS max_logical_replication_workers,
       current_setting('max_worker_processes')::int                          AS max_worker_processes,
       current_setting('max_replication_slots')::int                         AS max_replication_slots,
       current_setting('max_active_replication_origins', true)::int          AS max_active_replication_origins,
       (SELECT count(*) FROM pg_subscription WHERE subenabled)::int          AS subscriptions_enabled,
       (SELECT count(*) FROM pg_replication_origin)::int                     AS origins_used,
       current_user                                                          AS "user",
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)          AS superuser,
       pg_has_role(current_user, 'pg_create_subscription', 'USAGE')          AS create_subscription,
       EXISTS (SELECT 1 FROM pg_subscription
                WHERE subname = %s
                  AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS subscription_exists
