-- On the fenced server: a switchover's lease, a session-level advisory lock held as long as its session lives.
SELECT pg_try_advisory_lock(%s, %s) AS taken
