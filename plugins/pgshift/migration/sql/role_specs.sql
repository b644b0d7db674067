-- The roles among names with their attributes, password verifier and memberships in the roles among groups
-- and in predefined roles (each group's options OR-ed over its grantors). catalog is pg_authid, or pg_roles
-- with verifiers false where pg_authid is not readable (pg_roles' rolpassword is a mask). valid_until is
-- ISO 8601 UTC text, NULL for none or infinity. settings: the role's ALTER ROLE … SET values, in every database
-- (database NULL) or in one of databases (NULL: this one), each with its database's name (pg_db_role_setting:
-- name=value as stored).
SELECT r.rolname                         AS name,
       r.rolcanlogin                     AS login,
       r.rolsuper                        AS superuser,
       r.rolcreatedb                     AS createdb,
       r.rolcreaterole                   AS createrole,
       r.rolinherit                      AS inherit,
       r.rolreplication                  AS replication,
       r.rolbypassrls                    AS bypassrls,
       r.rolconnlimit                    AS connection_limit,
       CASE WHEN isfinite(r.rolvaliduntil)
            THEN to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            WHEN r.rolvaliduntil = '-infinity' THEN '-infinity'
       END                               AS valid_until,
       CASE WHEN %(verifiers)s THEN r.rolpassword END AS verifier,
       %(verifiers)s                     AS verifier_known,
       (SELECT coalesce(jsonb_agg(to_jsonb(g) ORDER BY g."group"), '[]'::jsonb)
        FROM (SELECT gr.rolname                                     AS "group",
                     bool_or(m.admin_option)                        AS admin,
                     bool_or(m.inherit_option)                      AS inherit,
                     bool_or(m.set_option)                          AS set,
                     array_agg(DISTINCT gb.rolname ORDER BY gb.rolname) AS grantors
              FROM pg_auth_members m
              JOIN pg_roles gr ON gr.oid = m.roleid
              JOIN pg_roles gb ON gb.oid = m.grantor
              WHERE m.member = r.oid
                AND (gr.rolname = ANY (%(groups)s::text[]) OR gr.rolname LIKE 'pg\_%%')
              GROUP BY gr.rolname) g)    AS member_of,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('database', d.datname, 'setting', c)
                                  ORDER BY d.datname NULLS FIRST, c), '[]'::jsonb)
        FROM pg_db_role_setting s
        LEFT JOIN pg_database d ON d.oid = s.setdatabase,
        unnest(s.setconfig) AS c
        WHERE s.setrole = r.oid
          AND (s.setdatabase = 0
               OR d.datname = ANY (coalesce(%(databases)s::text[], ARRAY[current_database()::text]))))
                                         AS settings
FROM {catalog} r
WHERE r.rolname = ANY (%(names)s::text[])
ORDER BY r.rolname
