-- The role this session acts as.
SELECT current_user::text AS role
