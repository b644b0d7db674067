-- On the subscriber (C; A for the way back): the subscription, its per-table sync state and its error counters.
SELECT s.subname,
       s.subenabled                                                         AS enabled,
       s.subslotname                                                        AS slot_name,
       s.subpublications                                                    AS publications,
       (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid) AS tables,
       (SELECT count(*) FROM pg_subscription_rel r
         WHERE r.srsubid = s.oid AND r.srsubstate = 'r')                    AS ready,
       (SELECT string_agg(r.srrelid::regclass::text || ' (' || r.srsubstate::text || ')', ', '
                          ORDER BY r.srrelid::regclass::text)
          FROM pg_subscription_rel r
         WHERE r.srsubid = s.oid AND r.srsubstate <> 'r')                   AS pending,
       coalesce(st.apply_error_count, 0)                                    AS apply_error_count,
       coalesce(st.sync_error_count, 0)                                     AS sync_error_count,
       (SELECT count(*) FROM pg_stat_subscription p
         WHERE p.subid = s.oid AND p.pid IS NOT NULL AND p.relid IS NULL)   AS apply_workers
FROM pg_subscription s
LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid
WHERE s.subname = %s
  AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
