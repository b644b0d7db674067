INSERT INTO orders (customer, amount, note)
SELECT g %% 97, (g %% 1000) / 10.0, 'seed ' || g FROM generate_series(1, %s) g
