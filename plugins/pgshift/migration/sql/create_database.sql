-- A database for one of the chain's databases on C, owned by the role that creates it (on Aurora, the master
-- user, which has CREATEDB); CREATE DATABASE cannot run inside a transaction block.
CREATE DATABASE {database}
