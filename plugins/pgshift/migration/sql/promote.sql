-- Promote B (a standby) to a primary, waiting up to %(seconds)s for the end of its recovery: true once it is done.
SELECT pg_promote(wait => true, wait_seconds => %(seconds)s) AS promoted
