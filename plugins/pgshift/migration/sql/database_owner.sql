-- The owner of this session's database (read on A: whose database it is, which C mirrors).
SELECT pg_get_userbyid(datdba) AS owner
FROM pg_database
WHERE datname = current_database()
