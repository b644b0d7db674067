ALTER SYSTEM SET hot_standby_feedback = on
