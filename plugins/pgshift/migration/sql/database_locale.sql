-- A database's encoding and locale, as CREATE DATABASE takes them. provider: libc, icu or builtin (PostgreSQL 17);
-- locale: the ICU or builtin locale (datlocale from 17 on, daticulocale in 16: read through to_jsonb, which has
-- whichever column the server has); icu_rules: ICU tailoring rules (16 and later), NULL for none.
SELECT pg_encoding_to_char(d.encoding)                                  AS encoding,
       d.datcollate                                                     AS collate,
       d.datctype                                                       AS ctype,
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' END AS provider,
       coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS locale,
       to_jsonb(d) ->> 'daticurules'                                    AS icu_rules
FROM pg_database d
WHERE d.datname = %s
