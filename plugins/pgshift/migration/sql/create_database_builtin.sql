-- As create_database.sql, for a database of A whose locale provider is builtin (PostgreSQL 17 and later).
CREATE DATABASE {database} TEMPLATE template0 ENCODING %(encoding)s LC_COLLATE %(collate)s LC_CTYPE %(ctype)s
    LOCALE_PROVIDER builtin BUILTIN_LOCALE %(locale)s
