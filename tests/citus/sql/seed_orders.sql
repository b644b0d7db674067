-- The transcripts' workload (A_04), smaller: orders distributed on shard_key, 32 shards.
CREATE TABLE orders (order_id bigserial, shard_key int PRIMARY KEY, n int, description char(100) DEFAULT 'x');
SELECT create_distributed_table('orders', 'shard_key');
INSERT INTO orders (shard_key, n) SELECT g, g FROM generate_series(1, %(rows)s) AS g;
