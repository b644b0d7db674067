#!/usr/bin/env bash
# Runs on host B as the PostgreSQL OS user: fills B's data directory from A with
# pg_basebackup -R -X stream through a physical slot, then starts B as a hot standby.
# Settings come from PGSHIFT_* environment variables; the replication password only from
# the passfile named by PGSHIFT_PASSFILE, so it is on no command line and in no log.
set -euo pipefail
: "${PGSHIFT_BIN_DIR:?}" "${PGSHIFT_DATA_DIR:?}" "${PGSHIFT_PRIMARY_HOST:?}" "${PGSHIFT_PRIMARY_PORT:?}"
: "${PGSHIFT_REPL_USER:?}" "${PGSHIFT_SLOT:?}" "${PGSHIFT_PORT:?}" "${PGSHIFT_PASSFILE:?}"
move_aside="${PGSHIFT_MOVE_ASIDE:-false}"
data="${PGSHIFT_DATA_DIR%/}"
bin="$PGSHIFT_BIN_DIR"
log() { echo "[basebackup] $*"; }

if [ -d "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
  if [ "$move_aside" != "true" ]; then
    log "ERROR: data directory $data is not empty; refusing to overwrite it." \
        "Set move_aside_data_dir=true to move it aside (the runbook's mv data data_old)."
    exit 3
  fi
  if "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "stopping the server that runs on $data before moving it aside"
    "$bin/pg_ctl" -D "$data" -m fast -w stop
  fi
  aside="${data}_old_$(date +%Y%m%d%H%M%S)"
  log "moving the non-empty data directory $data aside to $aside"
  mv "$data" "$aside"
fi
mkdir -p "$data"
chmod 700 "$data"

log "pg_basebackup from ${PGSHIFT_PRIMARY_HOST}:${PGSHIFT_PRIMARY_PORT} as ${PGSHIFT_REPL_USER} through slot ${PGSHIFT_SLOT}"
PGPASSFILE="$PGSHIFT_PASSFILE" "$bin/pg_basebackup" \
  --dbname="host=${PGSHIFT_PRIMARY_HOST} port=${PGSHIFT_PRIMARY_PORT} user=${PGSHIFT_REPL_USER} passfile=${PGSHIFT_PASSFILE} application_name=pgshift_b" \
  --pgdata="$data" --write-recovery-conf --wal-method=stream --slot="$PGSHIFT_SLOT" \
  --checkpoint=fast --progress --verbose 2>&1 | tr '\r' '\n'

# B inherits A's postgresql.conf; these lines (last one wins) make it B.
cat >> "$data/postgresql.auto.conf" <<CONF
# pgshift: hot standby of A through physical slot ${PGSHIFT_SLOT}
port = ${PGSHIFT_PORT}
hot_standby = on
hot_standby_feedback = on
primary_slot_name = '${PGSHIFT_SLOT}'
# never wait for a standby of its own once promoted (A's synchronous_standby_names names B itself)
synchronous_standby_names = ''
CONF

if [ -n "${PGSHIFT_START_COMMAND:-}" ]; then
  log "starting B with: ${PGSHIFT_START_COMMAND}"
  bash -c "$PGSHIFT_START_COMMAND"
else
  log "starting B on port ${PGSHIFT_PORT}"
  "$bin/pg_ctl" -D "$data" -l "${data}.log" -w -t 120 start
fi
log "B is up"
