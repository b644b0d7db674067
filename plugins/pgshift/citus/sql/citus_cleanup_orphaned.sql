-- Drops now what the maintenance daemon would drop later (pg_dist_cleanup: moved-away shard copies).
CALL citus_cleanup_orphaned_resources()
