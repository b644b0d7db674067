-- Blocks writes to the source worker, waits for the clone to catch up, pg_promote()s it and splits the
-- shards (F_06). Not atomic: the strategy is resolved after pg_promote() (F_10), so check it first.
SELECT citus_promote_clone_and_rebalance(%(nodeid)s, %(strategy)s, %(timeout)s)
