-- %(customers)s customers and %(carts)s carts spread over them.
INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, %(customers)s) g;
INSERT INTO carts (customer_id, total, note)
SELECT 1 + g %% %(customers)s, (g %% 500) / 10.0, 'seed ' || g FROM generate_series(1, %(carts)s) g;
