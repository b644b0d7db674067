-- A write that changes no value (one order row rewritten as it is): the benchmark's moving application commits
-- real transactions on A, then on C, without making C's data differ from A's.
UPDATE orders SET note = note WHERE id = (SELECT min(id) FROM orders)
