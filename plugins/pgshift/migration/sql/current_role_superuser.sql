-- Whether this session's role is a superuser (on Aurora it is not: rds_superuser is an ordinary role).
SELECT rolsuper FROM pg_roles WHERE rolname = current_user
