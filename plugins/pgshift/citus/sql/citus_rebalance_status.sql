-- The latest rebalance job (no row when none ever ran).
SELECT job_id, state::text AS state, job_type::text AS job_type, description, started_at, finished_at, details
FROM citus_rebalance_status()
