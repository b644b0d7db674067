#!/usr/bin/env python3
"""`make demo`: the whole migration on 127.0.0.1. A/B/C and sample data, then
`airflow dags test hybrid_aurora_migration` three times, while an application writes on A as role
``app``: setup (native mode), validate, and the cutover (fence, drain, verify, sequences, finalize).

Safe to run twice: the clusters and the data are kept; a chain the last demo cut over is reset first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from pgcluster import ClusterError, LocalClusters, server_user  # noqa: E402

sys.path.insert(0, str(ROOT / "plugins"))
from sample_data import WriteLoad, load_sample  # noqa: E402

from pgshift.report import cutover_summary  # noqa: E402

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


def main() -> int:
    cl = LocalClusters(os.environ.get("PGSHIFT_STATE_DIR"), int(os.environ.get("PGSHIFT_BASE_PORT", "54320")))
    print(f"== Starting A (:{cl.a.port}) and C (:{cl.c.port}) with PostgreSQL from {cl.bin_dir}")
    cl.start()
    if cl.is_running(cl.b) is False and (cl.b.data_dir / "PG_VERSION").exists():
        cl.start_node(cl.b)  # a second run: B was made by the first one
    if chain_was_cut_over(cl):
        print("== The previous demo cut over to C: resetting the chain (A unfenced, B and C emptied)")
        cl.reset_chain()
    print(f"== Loading sample data into A (pgbench scale {SCALE} and an orders table fed by a sequence)")
    load_sample(cl, scale=SCALE, orders=5000)
    cl.sql(cl.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
                 "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app")

    home = cl.state_dir.parent / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    reports = cl.state_dir.parent / "reports"
    env = {**os.environ, **cl.airflow_connections(),
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           # `airflow dags test` in Airflow 3.3.2 crashes at the end of a run of a DAG with a DeadlineAlert.
           "PGSHIFT_DEADLINE": "off", "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", str(home))}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    common = {"mode": "native", "b_data_dir": str(cl.b.data_dir), "b_bin_dir": str(cl.bin_dir), "b_port": cl.b.port,
              "b_os_user": server_user(), "poll_interval_seconds": 1, "report_dir": str(reports)}

    # 1. Setup, under the application's writes.
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=10).start()
    print("== Application writes on A as role app (10 transactions/s); setting the chain up:")
    ok = dags_test(env, home, {"action": "setup", **common}, "setup")
    print(f"   {load.stop()} write transactions on A during the setup")
    if not ok:
        return 1
    # 2. Validation, what the hourly schedule runs.
    print("== Validating the chain (what every scheduled run does, read-only):")
    if not dags_test(env, home, {"action": "validate", **common}, "validate"):
        return 1
    validation = sorted((reports / "validate").glob("*.json"))[-1]
    figures = json.loads(validation.read_text())["figures"]
    print(f"   A -> B lag {figures['a_to_b_lag_bytes']} bytes, B -> C lag {figures['b_to_c_lag_bytes']} bytes, "
          f"slot {figures['slot_wal_status']}; report {validation}, chart {reports / 'validate' / 'lag.png'}")
    # 3. The cutover, under the application's writes: fence, drain, verify, sequences, finalize.
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=50).start()
    time.sleep(2)  # let the application be busy when the fence comes down
    print("== Cutting over to C while the application writes (dry_run false, app_roles [app]):")
    ok = dags_test(env, home, {"action": "cutover", "app_roles": ["app"], "dry_run": False, **common}, "cutover")
    committed = load.stop()
    report_file = sorted((reports / "cutover").glob("*/report.json"), key=lambda f: f.stat().st_mtime)[-1]
    report = json.loads(report_file.read_text())
    print("\n".join("   " + line for line in cutover_summary(report).splitlines()))
    print(f"   the application committed {committed} transactions on A during the cutover run "
          f"({load.fenced or 'not fenced'}); report {report_file}")
    if not ok:
        return 1
    print(f"\n{'table':<28}{'rows on A':>12}{'rows on C':>12}")
    for t in report["tables"]:
        same = t["status"] == "equal"
        print(f"{t['table']:<28}{t['source_rows']:>12}{t['target_rows']:>12}{'' if same else '   MISMATCH'}")
    print("\nA stays fenced (role app cannot log in; the database is read-only); C is ready. Clusters keep "
          "running; the next `make demo` resets the chain first, `make demo-stop` removes everything.\n")
    print(CITUS_NOTE)
    return 0


def dags_test(env: dict[str, str], home: Path, conf: dict, label: str) -> bool:
    """`airflow dags test` of the migration DAG with ``conf``; prints each task's end and the failure, if any."""
    print(f"   airflow dags test hybrid_aurora_migration --conf '{json.dumps(conf)}'")
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "hybrid_aurora_migration", "--conf",
                          json.dumps(conf)], check=False, env=env, capture_output=True, text=True)
    log_file = home / f"demo-{label}.log"
    log_file.write_text(run.stdout + run.stderr)
    for line in (run.stdout + run.stderr).splitlines():
        if "[DAG TEST] end task" in line or "AirflowFailException" in line or line.startswith("  - "):
            print("   " + line.split("[airflow")[0].strip()[-160:])
    ok = "state=success" in run.stdout + run.stderr
    print(f"   {label}: {'success' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s (log: {log_file})")
    return ok


def chain_was_cut_over(cl: LocalClusters) -> bool:
    """A previous demo finished its migration: B exists but C no longer subscribes, or A is fenced."""
    if not (cl.b.data_dir / "PG_VERSION").exists():
        return False
    fenced = cl.sql(cl.a, "SELECT NOT rolcanlogin FROM pg_roles WHERE rolname = 'app'")[0][0]
    return fenced or not cl.sql(cl.c, "SELECT 1 FROM pg_subscription")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ClusterError as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        sys.exit(1)
