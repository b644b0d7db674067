-- A database for one of the chain's databases on C, owned by the role that creates it (on Aurora, the master
-- user, which has CREATEDB), with A's encoding and libc locale (template0: template1's may differ, and only
-- template0 takes another encoding); CREATE DATABASE cannot run inside a transaction block.
CREATE DATABASE {database} TEMPLATE template0 ENCODING %(encoding)s LC_COLLATE %(collate)s LC_CTYPE %(ctype)s
    LOCALE_PROVIDER libc
