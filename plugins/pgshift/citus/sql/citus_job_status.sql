-- One job by id, with the same columns as citus_rebalance_status().
SELECT job_id, state::text AS state, job_type::text AS job_type, description, started_at, finished_at, details
FROM citus_job_status(%(job_id)s)
