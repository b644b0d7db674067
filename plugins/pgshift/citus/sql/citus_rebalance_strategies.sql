SELECT name::text AS name, default_strategy FROM pg_dist_rebalance_strategy ORDER BY name
