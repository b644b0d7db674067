#!/usr/bin/env bash
# One-shot (service citus-init): a two-worker Citus cluster with a distributed table to rebalance.
# citus-worker1 and citus-worker2 join; citus-worker3 is left out on purpose: the citus_scale_out DAG
# adds it and rebalances. Safe to re-run: every step checks what is already there.
set -Eeuo pipefail
: "${PGPASSWORD:?PGPASSWORD (CITUS_PASSWORD in .env) must be set}"
export PGHOST="${CITUS_COORDINATOR_HOST:-citus-coordinator}" PGPORT="${CITUS_PORT:-5432}"
export PGUSER="${PGUSER:-postgres}" PGDATABASE="${PGDATABASE:-postgres}"
rows="${CITUS_DEMO_ROWS:-100000}"

psql -X -q -v ON_ERROR_STOP=1 --set=rows="$rows" --set=coordinator="$PGHOST" --set=port="$PGPORT" <<'SQL'
SELECT citus_set_coordinator_host(:'coordinator', :port);
SELECT citus_add_node('citus-worker1', :port);
SELECT citus_add_node('citus-worker2', :port);

CREATE TABLE IF NOT EXISTS public.orders (
    order_id    bigserial,
    shard_key   int PRIMARY KEY,
    n           int,
    description char(100) DEFAULT 'x'
);
SELECT create_distributed_table('public.orders', 'shard_key')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'public.orders'::regclass);

SELECT count(*) = 0 AS orders_empty FROM public.orders \gset
\if :orders_empty
INSERT INTO public.orders (shard_key, n) SELECT g, g FROM generate_series(1, :rows) AS g;
\endif

SELECT nodename, nodeport, count(*) AS shards
FROM citus_shards WHERE table_name = 'public.orders'::regclass GROUP BY 1, 2 ORDER BY 1;
SQL
echo "citus-init: coordinator, citus-worker1 and citus-worker2 are a cluster; citus-worker3 waits for citus_scale_out"
