-- On A: does this session hold the cutover's lease? (A reconnected session does not.)
SELECT EXISTS (SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                  AND classid = %s AND objid = %s AND objsubid = 2) AS mine
