#!/usr/bin/env bash
# One-shot (service pg-b-ssh-keys): the SSH keys between Airflow and host B, made once per deployment
# into two named volumes and never committed. Re-running keeps existing keys.
#   /keys/airflow -> mounted read-only as ~/.ssh of the Airflow containers:
#                    id_ed25519 (Airflow's login key, owned by AIRFLOW_UID) and known_hosts (pins pg-b)
#   /keys/pg-b    -> mounted read-only in pg-b: its host key and the authorized key
set -Eeuo pipefail
client="${PGSHIFT_CLIENT_KEY_DIR:-/keys/airflow}"
server="${PGSHIFT_SERVER_KEY_DIR:-/keys/pg-b}"
uid="${AIRFLOW_UID:-50000}"
host="${PGSHIFT_B_SSH_HOST:-pg-b}"

mkdir -p "$client" "$server"
if [ ! -s "$server/ssh_host_ed25519_key" ]; then
  ssh-keygen -q -t ed25519 -N '' -C "pgshift-$host-host" -f "$server/ssh_host_ed25519_key"
  echo "made the host key of $host"
fi
if [ ! -s "$client/id_ed25519" ]; then
  ssh-keygen -q -t ed25519 -N '' -C "pgshift-airflow" -f "$client/id_ed25519"
  echo "made Airflow's login key for $host"
fi
# restrict: no port, agent or X11 forwarding and no pty; commands and SFTP still work.
printf 'restrict %s\n' "$(cut -d' ' -f1,2 "$client/id_ed25519.pub")" > "$server/authorized_keys"
# Host key checking stays on: Airflow's SSH hooks read ~/.ssh/known_hosts.
printf '%s %s\n' "$host" "$(cut -d' ' -f1,2 "$server/ssh_host_ed25519_key.pub")" > "$client/known_hosts"

chmod 755 "$client" "$server"
chown "$uid:0" "$client/id_ed25519"
chmod 600 "$client/id_ed25519" "$server/ssh_host_ed25519_key"
chmod 644 "$client/id_ed25519.pub" "$client/known_hosts" "$server/ssh_host_ed25519_key.pub" "$server/authorized_keys"
echo "SSH keys for $host are in place"
