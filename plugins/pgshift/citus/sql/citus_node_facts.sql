-- Versions and the citus extension of a node (any node: coordinator, worker or a new one).
SELECT current_setting('server_version_num')::integer AS server_version_num,
       current_setting('server_version') AS server_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus_extversion,
       (SELECT default_version FROM pg_available_extensions WHERE name = 'citus') AS citus_available_version
