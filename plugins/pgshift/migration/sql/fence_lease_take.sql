-- On A: the cutover's lease, a session-level advisory lock: held as long as the cutover's session lives.
SELECT pg_try_advisory_lock(%s, %s) AS taken
