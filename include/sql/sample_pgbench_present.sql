SELECT to_regclass('public.pgbench_accounts') IS NOT NULL
