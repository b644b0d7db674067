INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, %s, 1, now())
