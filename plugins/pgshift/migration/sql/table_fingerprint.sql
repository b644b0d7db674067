-- Row count and an order-independent content hash of one table.
SELECT count(*)::bigint                                     AS row_count,
       coalesce(sum(hashtextextended(t::text, 0)), 0)::text AS content_hash
FROM {table} AS t
