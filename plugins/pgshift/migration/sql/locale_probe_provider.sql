-- As locale_probe.sql, for an ICU or builtin locale (builtin: PostgreSQL 17 and later; an older server refuses the
-- provider itself).
CREATE COLLATION pg_temp.pgshift_locale_probe (PROVIDER = %(provider)s, LOCALE = %(locale)s)
