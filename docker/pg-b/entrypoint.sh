#!/usr/bin/env bash
# pg-b ("B"): sshd in the foreground. PostgreSQL runs here only after the hybrid_aurora_migration DAG
# has made B with pg_basebackup (over SSH, as user postgres) and started it with pg_ctl.
set -Eeuo pipefail
keys="${PGSHIFT_SSH_KEY_DIR:-/etc/pgshift-ssh}"
data="${PGSHIFT_B_DATA_DIR:-/var/lib/postgresql/17/main}"
bin="/usr/lib/postgresql/${PG_MAJOR}/bin"

for f in ssh_host_ed25519_key authorized_keys; do
  if [ ! -s "$keys/$f" ]; then
    echo "pg-b: $keys/$f is missing: the pg-b-ssh-keys service makes it" >&2
    exit 1
  fi
done
install -m 600 -o root -g root "$keys/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 644 -o root -g root "$keys/authorized_keys" /etc/ssh/authorized_keys/postgres

# The data directory stays empty until the DAG's pg_basebackup. Its parent (the volume) also keeps the
# passfile B's WAL receiver reads on every reconnect (<data_dir>.pgpass) and B's log (<data_dir>.log).
parent="$(dirname "$data")"
mkdir -p "$parent"
chown postgres:postgres "$parent"
chmod 700 "$parent"
if [ ! -e "$data" ]; then
  install -d -m 700 -o postgres -g postgres "$data"
fi

# After a container restart, a B the DAG has already made comes back as the standby it was.
# Nothing else can be running on this data directory in a fresh container: a pid file is stale.
if [ -s "$data/PG_VERSION" ] && [ -e "$data/standby.signal" ]; then
  rm -f "$data/postmaster.pid"
  echo "pg-b: starting the standby in $data"
  gosu postgres "$bin/pg_ctl" -D "$data" -l "$data.log" -w -t 120 start \
    || echo "pg-b: the standby did not start, see $data.log" >&2
fi

sshd_pid=
stop() {
  if [ -s "$data/postmaster.pid" ]; then
    gosu postgres "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop || true
  fi
  [ -z "$sshd_pid" ] || kill -TERM "$sshd_pid" 2>/dev/null || true
}
trap stop TERM INT

echo "pg-b: sshd listening on 22 (user postgres, key only); B's data directory is $data"
/usr/sbin/sshd -D -e &
sshd_pid=$!
# The first wait returns when a signal arrives (the trap has stopped sshd); the second reaps it.
wait "$sshd_pid" || true
wait "$sshd_pid" 2>/dev/null || true
stop
