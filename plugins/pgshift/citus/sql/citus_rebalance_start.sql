-- The job id; NULL with NOTICE "No moves available for rebalancing" when there is nothing to move.
SELECT citus_rebalance_start(rebalance_strategy => %(strategy)s, drain_only => %(drain_only)s,
                             shard_transfer_mode => %(shard_transfer_mode)s::citus.shard_transfer_mode) AS job_id
