-- Whether this server can use a libc locale: a collation made with it (in pg_temp, rolled back by the caller)
-- loads the locale as CREATE DATABASE would, and fails the same way when the operating system lacks it.
CREATE COLLATION pg_temp.pgshift_locale_probe (PROVIDER = libc, LC_COLLATE = %(collate)s, LC_CTYPE = %(ctype)s)
