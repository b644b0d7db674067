-- The value is a validated integer; ALTER SYSTEM takes no bind parameters, psycopg2 inlines it.
ALTER SYSTEM SET citus.max_background_task_executors_per_node = %(executors)s
