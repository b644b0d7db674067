-- The database's comment (the owner may set it, superuser or not; transactional, as a setting is).
COMMENT ON DATABASE {database} IS %s
