-- On A: the cutover's fence marker (JSON), stored with the database so that it is written in the fence's own
-- transaction and read by anyone who connects: the fence watchdog, a retry, the next cutover.
ALTER DATABASE {database} SET pgshift.fence = %s
