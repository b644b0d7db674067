-- As create_database.sql, for a database of A whose locale provider is ICU (LC_COLLATE and LC_CTYPE still set
-- what the libc functions see).
CREATE DATABASE {database} TEMPLATE template0 ENCODING %(encoding)s LC_COLLATE %(collate)s LC_CTYPE %(ctype)s
    LOCALE_PROVIDER icu ICU_LOCALE %(locale)s
