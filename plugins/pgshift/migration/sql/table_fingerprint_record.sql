-- Row count and an order-independent content hash of one table, hashing each row with its columns'
-- own hash functions (about twice as fast as hashing the row's text); see record_hashable.sql.
SELECT count(*)::bigint                                         AS row_count,
       coalesce(sum(hash_record_extended(t, 0)), 0)::text       AS content_hash
FROM {table} AS t
