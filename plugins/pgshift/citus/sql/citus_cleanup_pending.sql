-- Shard copies and other leftovers Citus still has to drop.
SELECT count(*)::integer AS pending FROM pg_dist_cleanup
