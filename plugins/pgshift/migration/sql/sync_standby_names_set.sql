-- On A: which standbys its commits wait for (a literal; '' makes A asynchronous). Takes effect at pg_reload_conf().
ALTER SYSTEM SET synchronous_standby_names = %s
