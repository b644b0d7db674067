-- Hand a database pgshift created on C to the role that owns it on A (the creator must be able to SET ROLE to it and
-- have CREATEDB: Aurora's master user, a member of the migrated roles).
ALTER DATABASE {database} OWNER TO {owner}
