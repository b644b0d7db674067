#!/usr/bin/env bash
# pg-a ("A", the on-premises primary): first-start setup. The official postgres image runs the files
# in /docker-entrypoint-initdb.d once, on an empty data directory, against a socket-only server.
# No `set -u`: without the executable bit the image sources this file into its own entrypoint.
set -Eeo pipefail
: "${PGSHIFT_REPLICATION_PASSWORD:?PGSHIFT_REPLICATION_PASSWORD must be set (see .env.example)}"

# The -c flags in docker-compose.yaml cover A's own start, but a standby made with pg_basebackup
# inherits files, not command-line flags: ALTER SYSTEM writes postgresql.auto.conf, which the copy
# takes along, so B also runs with wal_level=logical (logical decoding on a standby needs it on both).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname postgres \
     --set=repl_password="$PGSHIFT_REPLICATION_PASSWORD" <<'SQL'
ALTER SYSTEM SET wal_level = 'logical';
ALTER SYSTEM SET max_wal_senders = 20;
ALTER SYSTEM SET max_replication_slots = 20;
ALTER SYSTEM SET hot_standby = on;
ALTER SYSTEM SET wal_keep_size = '256MB';
-- pg_basebackup -R and B's WAL receiver log in as this role; so do C's subscription and DMS on B
-- (B is a copy of A: same roles, same passwords).
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_password';
-- The application's role: what a cutover fences (app_roles). Give it a password to connect as it.
CREATE ROLE app LOGIN;
SQL

# Replication connections from the compose network, SCRAM only. The image has already appended
# "host all all all scram-sha-256" for ordinary connections; "all" does not cover the replication
# pseudo-database. pg_hba.conf is copied to B as well.
cat >> "$PGDATA/pg_hba.conf" <<'HBA'
# pgshift: streaming replication (pg_basebackup, B's WAL receiver) from the compose network
host    replication     all     samenet     scram-sha-256
HBA
