#!/usr/bin/env python3
"""`make demo`: A/B/C on 127.0.0.1, sample data and a light write load on A, then
`airflow dags test hybrid_aurora_migration` in native mode, then A and C side by side.

Safe to run twice: the clusters and the data are kept, and the DAG finds the chain in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from pgcluster import ClusterError, LocalClusters, server_user  # noqa: E402
from sample_data import WriteLoad, load_sample  # noqa: E402

SCALE = int(os.environ.get("PGSHIFT_DEMO_SCALE", "5"))
CITUS_NOTE = """citus_scale_out needs a real Citus cluster (no local Citus demo: Citus is not installable from the
package registries pgshift uses). To run it against yours:
  1. Each new worker: the coordinator's Citus release and PostgreSQL major installed,
     shared_preload_libraries = 'citus', restarted, and CREATE EXTENSION citus in the database.
     The coordinator must reach it as its own server user (pg_hba.conf, and .pgpass or pg_dist_authinfo).
  2. The coordinator connection (a superuser, the distributed database):
       export AIRFLOW_CONN_CITUS_COORDINATOR='postgresql://postgres:<password>@<coordinator>:5432/<database>'
  3. A dry run first (nothing changes; the plan is in the log):
       PGSHIFT_DEADLINE=off .venv/bin/airflow dags test citus_scale_out \\
         -c '{"new_workers": ["10.0.0.13:5432"], "dry_run": true}'
  4. Then the scale-out itself (drop "dry_run"), or trigger citus_scale_out from the Airflow UI form.
See docs/citus.md for every param."""


def rows(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def main() -> int:
    cl = LocalClusters(os.environ.get("PGSHIFT_STATE_DIR"), int(os.environ.get("PGSHIFT_BASE_PORT", "54320")))
    print(f"== Starting A (:{cl.a.port}) and C (:{cl.c.port}) with PostgreSQL from {cl.bin_dir}")
    cl.start()
    if cl.is_running(cl.b) is False and (cl.b.data_dir / "PG_VERSION").exists():
        cl.start_node(cl.b)  # a second run: B was made by the first one
    print(f"== Loading sample data into A (pgbench scale {SCALE} and an orders table fed by a sequence)")
    load_sample(cl, scale=SCALE, orders=5000)

    home = cl.state_dir.parent / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **cl.airflow_connections(),
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           # `airflow dags test` in Airflow 3.3.2 crashes at the end of a run of a DAG with a DeadlineAlert.
           "PGSHIFT_DEADLINE": "off", "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", str(home))}
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)

    conf = {"action": "setup", "mode": "native", "b_data_dir": str(cl.b.data_dir), "b_bin_dir": str(cl.bin_dir),
            "b_port": cl.b.port,
            "b_os_user": server_user(), "poll_interval_seconds": 1}
    load = WriteLoad(cl.uri(cl.a), rate=10).start()
    print("== Light write load on A started (10 transactions/s); running the DAG:")
    print(f"   airflow dags test hybrid_aurora_migration --conf '{json.dumps(conf)}'")
    started = time.monotonic()
    dag_test = subprocess.run([*airflow, "dags", "test", "hybrid_aurora_migration", "--conf", json.dumps(conf)],
                              check=False, env=env, capture_output=True, text=True)
    committed = load.stop()
    log_file = home / "demo-dags-test.log"
    log_file.write_text(dag_test.stdout + dag_test.stderr)
    for line in (dag_test.stdout + dag_test.stderr).splitlines():
        if "[DAG TEST] end task" in line or "Preflight found" in line or line.startswith("  - "):
            print("   " + line.split("[airflow")[0].strip()[-160:])
    state = "success" if "state=success" in dag_test.stdout + dag_test.stderr else "failed"
    print(f"== DAG run {state} in {time.monotonic() - started:.0f} s; {committed} write transactions on A "
          f"during the run (full log: {log_file})")
    if state != "success":
        return 1

    # Let C catch up with the last writes before comparing.
    target = rows(cl.uri(cl.a), "SELECT pg_current_wal_lsn()::text")[0][0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not rows(
            cl.uri(cl.b), "SELECT coalesce(bool_and(confirmed_flush_lsn >= %s::pg_lsn), false) "
                          "FROM pg_replication_slots WHERE slot_type = 'logical'", (target,))[0][0]:
        time.sleep(0.2)
    tables = [r[0] for r in rows(cl.uri(cl.a), "SELECT schemaname || '.' || relname FROM pg_stat_user_tables "
                                               "ORDER BY 1")]
    print(f"\n{'table':<28}{'rows on A':>12}{'rows on C':>12}")
    ok = True
    for table in tables:
        query = "SELECT count(*) FROM " + ".".join(f'"{p}"' for p in table.split("."))
        a_count, c_count = rows(cl.uri(cl.a), query)[0][0], rows(cl.uri(cl.c), query)[0][0]
        ok &= a_count == c_count
        print(f"{table:<28}{a_count:>12}{c_count:>12}{'' if a_count == c_count else '   MISMATCH'}")
    ab = rows(cl.uri(cl.a), "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), -1)::bigint "
                            "FROM pg_stat_replication")[0][0]
    bc = rows(cl.uri(cl.b), "SELECT coalesce(max(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), confirmed_flush_lsn)), -1)"
                            "::bigint FROM pg_replication_slots WHERE slot_type = 'logical'")[0][0]
    print(f"\nFinal lag: A -> B {ab} bytes, B -> C {bc} bytes.")
    print("Clusters keep running (make demo-stop removes them).\n")
    print(CITUS_NOTE)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ClusterError as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        sys.exit(1)
