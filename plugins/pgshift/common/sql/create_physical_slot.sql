-- On A: the physical slot B streams through; reserve WAL at once so nothing is recycled before B connects.
SELECT slot_name::text FROM pg_create_physical_replication_slot(%s, true)
