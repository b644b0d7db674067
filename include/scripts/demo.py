#!/usr/bin/env python3
"""`make demo`: the whole migration on 127.0.0.1, on a real local Airflow deployment, as a user runs it.

A/B/C and sample data; then api-server, scheduler (LocalExecutor), dag-processor and triggerer as separate
processes (metadata on a fourth local PostgreSQL); then, through the REST API, while an application writes
on A: ``setup`` (native mode) of two databases in one chain — ``pgshift`` (pgbench's tables and an orders table,
written by role ``app``) and ``shop`` (a second application with its own role ``shop_app``, identity and bigserial
sequences) — ``validate`` with no conf (it checks the configuration setup recorded), and one cutover of both (one
fence, drain, verify and sequences per database, one commit point, finalize). The DAG is unpaused, so the hourly
validation runs too. The deployment is left running for the user to look at; `make demo-stop` ends it.

C is Aurora-shaped (``pgcluster.py``'s ``aurora`` profile: pgshift's role on C is Aurora's master user, no
superuser) unless ``PGSHIFT_C_PROFILE=superuser``; the profile is chosen when C is first made, and a state
directory made with the other one is refused with the way out (``make demo-stop``).

Safe to run twice: the clusters, the data and the deployment are kept; a chain the last demo cut over is
reset first.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from airflow_local import (  # noqa: E402
    USER,
    AirflowApi,
    AirflowDeployment,
    DeploymentError,
    failed_task_logs,
    failure_reason,
)
from pgcluster import DATABASE, ClusterError, LocalClusters, server_user  # noqa: E402
from sample_data import SHOP_DATABASE, SHOP_ROLE, MovingApp, ShopLoad, WriteLoad, load_sample, load_shop  # noqa: E402

from pgshift.common.report import cutover_summary  # noqa: E402
from pgshift.migration.switchover.state import iso  # noqa: E402

DAG_ID = "hybrid_aurora_migration"
SCALE = int(os.environ.get("PGSHIFT_DEMO_SCALE", "5"))
DATABASES = [DATABASE, SHOP_DATABASE]  # one chain, one cutover
CITUS_NOTE = """citus_scale_out needs a real Citus cluster (no local Citus demo: Citus is not installable from the
package registries pgshift uses). To run it against yours, define the coordinator connection
(AIRFLOW_CONN_CITUS_COORDINATOR, a superuser in the distributed database) in the deployment, then trigger
citus_scale_out from the UI form with new_workers and dry_run first. See docs/citus.md."""


def main() -> int:
    # C as Aurora gives it unless PGSHIFT_C_PROFILE=superuser: Aurora is what users migrate to. A state directory
    # whose C was made with the other profile is refused here, naming make demo-stop (LocalClusters.c_profile).
    cl = LocalClusters(os.environ.get("PGSHIFT_STATE_DIR"), int(os.environ.get("PGSHIFT_BASE_PORT", "54320")),
                       c_profile=os.environ.get("PGSHIFT_C_PROFILE") or "aurora")
    print(f"== Starting A (:{cl.a.port}) and C (:{cl.c.port}, profile {cl.c_profile}) with PostgreSQL from "
          f"{cl.bin_dir}")
    cl.start()
    print(c_profile_line(cl))
    if cl.is_running(cl.b) is False and (cl.b.data_dir / "PG_VERSION").exists():
        cl.start_node(cl.b)  # a second run: B was made by the first one
    if chain_was_cut_over(cl):
        print("== The previous demo cut over to C: resetting the chain (A unfenced, B and C emptied)")
        cl.reset_chain()
    print(f"== Loading sample data into A (pgbench scale {SCALE} and an orders table fed by a sequence)")
    load_sample(cl, scale=SCALE, orders=5000)
    cl.sql(cl.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
                 "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app")
    print(f"== A second application database on A: {SHOP_DATABASE!r}, owned by role {SHOP_ROLE} (customers with an "
          "identity column, carts with a bigserial)")
    load_shop(cl)

    dep = AirflowDeployment(cl, cl.state_dir / "airflow")
    started = time.monotonic()
    print(f"== Starting Airflow on {dep.url}: api-server, scheduler (LocalExecutor), dag-processor, triggerer; "
          f"metadata on PostgreSQL :{cl.meta.port}")
    dep.start()
    api = dep.api()
    api.wait_dag(DAG_ID)
    print(f"   healthy and {DAG_ID} parsed in {time.monotonic() - started:.0f} s")
    reports = Path(dep.env()["PGSHIFT_REPORT_DIR"])

    if api.request("GET", f"/api/v2/dags/{DAG_ID}")["is_paused"]:
        api.set_paused(DAG_ID, False)
        first_scheduled_run(api)
    else:
        print(f"== {DAG_ID} is unpaused (a previous demo): the scheduler validates it every hour")

    # 1. Setup, under the application's writes. Only what differs from the DAG's defaults is sent.
    setup = {"action": "setup", "mode": "native", "databases": DATABASES, "b_data_dir": str(cl.b.data_dir),
             "b_bin_dir": str(cl.bin_dir), "b_port": cl.b.port, "b_os_user": server_user(),
             "poll_interval_seconds": 1}
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=10).start()
    shop = ShopLoad(cl, rate=5).start()
    print(f"== Applications write on A (role app in {DATABASE}, 10 transactions/s; role {SHOP_ROLE} in "
          f"{SHOP_DATABASE}, 5/s); setting the chain of {' and '.join(DATABASES)} up:")
    ok = trigger_and_wait(api, setup, "setup")
    print(f"   {load.stop()} write transactions in {DATABASE} and {shop.stop()} in {SHOP_DATABASE} during the setup")
    if not ok:
        return 1
    # 2. Validation with no conf: what every scheduled run does, with the configuration setup recorded.
    print("== Validating the chain with no conf (as the hourly schedule does: setup's recorded configuration):")
    run_id = api.trigger(DAG_ID, {"action": "validate"})
    if not wait(api, run_id, "validate"):
        return 1
    validation = json.loads(report_of(reports / "validate", run_id).read_text())
    print(f"   A -> B lag {validation['figures']['a_to_b_lag_bytes']} bytes (the server's); chart "
          f"{reports / 'validate' / 'lag.png'}")
    for db, section in (validation.get("databases") or {DATABASE: validation}).items():
        figures = section["figures"]
        print(f"   {db}: B -> C lag {figures['b_to_c_lag_bytes']} bytes, slot {figures['slot_wal_status']}")
    # 3. The cutover, under the application's writes: fence, drain, verify, sequences, finalize. The application
    # names A then C in its connection string, with its own unchanged credentials, and moves by itself.
    app = MovingApp(cl, rate=50).start()
    time.sleep(2)  # let the application be busy when the fence comes down
    print("== Cutting over to C while the application writes as role app, through one connection string naming A "
          "then C (target_session_attrs=read-write):")
    cutover = {"action": "cutover", "app_roles": ["app", SHOP_ROLE], "dry_run": False}
    run_id = api.trigger(DAG_ID, cutover)
    ok = wait(api, run_id, "cutover", json.dumps(cutover))
    on_c = ok and app.wait_on_c(commits=20)
    committed = app.stop()
    report_file = reports / "cutover" / safe(run_id) / "report.json"
    report: dict[str, Any] = json.loads(report_file.read_text()) if report_file.exists() else {}
    if report:
        report["application"] = {
            "role": "app", "committed_on_a": committed["A"], "committed_on_c": committed["C"],
            "last_commit_on_a": iso(app.last_commit_on_a), "first_commit_on_c": iso(app.first_commit_on_c),
            "write_downtime_seconds": app.downtime, "refused_meanwhile": app.refusals}
        report_file.write_text(json.dumps(report, indent=2) + "\n")
        print("\n".join("   " + line for line in cutover_summary(report).splitlines()))
    print(f"   report {report_file}")
    if not ok:
        return 1
    if not on_c:
        print(f"   FAILED: the application did not write on C after the cutover (it was told: "
              f"{'; '.join(app.refusals) or 'nothing'})")
        return 1
    shop_on_c = ShopLoad(cl, rate=20, node=cl.c).start()
    time.sleep(1)
    print(f"== Role {SHOP_ROLE} logs in to {SHOP_DATABASE} on C with its unchanged password: {shop_on_c.stop()} carts "
          "written there in 1 s")
    print(f"== The application moved: {committed['A']} commits on A, then {committed['C']} on C as role app with "
          f"its unchanged password.\n   Application-visible write downtime (its last commit on A -> its first on "
          f"C): {app.downtime:.3f} s; fence -> C ready: {report.get('write_downtime_seconds')} s")
    for db, part in (report.get("databases") or {DATABASE: report}).items():
        print_database(db, part)
    print(f"\nA stays fenced (roles app and {SHOP_ROLE} cannot log in; {' and '.join(DATABASES)} are read-only); C "
          "is ready and the applications work there. The way back is armed, per database: every write on C reaches "
          "A (and B) until action=fallback moves the applications back to A, or action=finish removes it. Clusters "
          "and Airflow keep running; the next `make demo` resets the chain first, `make demo-stop` stops everything.\n")
    print(f"Airflow UI: {dep.url}  (login {USER} / {dep.password}; the password is in {dep.passwords_file})")
    print(f"airflow CLI against it:  eval \"$({sys.executable} {HERE / 'airflow_local.py'} env)\"; "
          f"airflow dags list-runs {DAG_ID}")
    print(f"Process logs: {dep.log_dir}; task logs: {dep.home / 'logs'}\n")
    print(CITUS_NOTE)
    return 0


def print_database(db: str, part: dict[str, Any]) -> None:
    """One database's tables and sequences as the cutover verified and set them."""
    verify = part.get("verify") or {}
    delta = verify.get("method") == "delta"
    print(f"\nDatabase {db}:")
    if delta:
        print(f"  every table compared B against C at B's frozen position {verify['rounds'][0]['lsn']} before the "
              f"fence (A writable), then the rows changed since; inside the fence {verify['inside_fence']['keys']} "
              "changed rows, A against C.")
    print(f"  {'table':<28}{'rows on B' if delta else 'rows on A':>12}{'rows on C':>12}")
    for t in part.get("tables", []):
        same = t["status"] == "equal"
        print(f"  {t['table']:<28}{t['source_rows']:>12}{t['target_rows']:>12}{'' if same else '   MISMATCH'}")
    for seq in part.get("sequences", []):
        print(f"  sequence {seq['sequence']:<27} A {seq['a_last_value']} -> {seq['action']} on C")


def first_scheduled_run(api: AirflowApi) -> None:
    """Unpausing makes the scheduler start the latest hourly validation at once: show what it said."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        scheduled = [r for r in api.runs(DAG_ID) if r["run_type"] == "scheduled" and r["state"] != "success"]
        if scheduled:
            run = scheduled[-1]
            state = api.wait_run(DAG_ID, run["dag_run_id"], 300)
            said = ""
            if state == "failed":
                said = ": " + failure_reason(api, DAG_ID, run["dag_run_id"])[:300]
            print(f"== Unpaused {DAG_ID}: the scheduler's hourly validation {run['dag_run_id']} ended {state}{said}")
            return
        time.sleep(1)


def trigger_and_wait(api: AirflowApi, conf: dict[str, Any], label: str) -> bool:
    return wait(api, api.trigger(DAG_ID, conf), label, json.dumps(conf))


def wait(api: AirflowApi, run_id: str, label: str, conf: str | None = None) -> bool:
    """Wait for a run triggered through POST /api/v2/dags/.../dagRuns; print its tasks and any failure."""
    print(f"   POST /api/v2/dags/{DAG_ID}/dagRuns {conf or ''} -> run {run_id}")
    started = time.monotonic()
    deferred: set[str] = set()

    def seen(states: dict[str, str | None]) -> None:
        deferred.update(t for t, s in states.items() if s == "deferred")

    state = api.wait_run(DAG_ID, run_id, timeout=1800, on_poll=seen)
    done = [t for t, s in api.task_states(DAG_ID, run_id).items() if s not in ("skipped", None)]
    print(f"   tasks: {', '.join(done)}" + (f"; deferred to the triggerer: {', '.join(sorted(deferred))}"
                                              if deferred else ""))
    print(f"   {label}: {state} in {time.monotonic() - started:.0f} s")
    if state != "success":
        print(failed_task_logs(api, DAG_ID, run_id))
    return state == "success"


def safe(run_id: str) -> str:
    from pgshift.common.report import safe_name

    return safe_name(run_id)


def report_of(directory: Path, run_id: str) -> Path:
    return directory / f"{safe(run_id)}.json"


def c_profile_line(cl: LocalClusters) -> str:
    """Which C the demo runs on, and what pgshift's role there (connection pgshift_c) is, as C says."""
    login = "postgres"  # pgshift_c's login in both profiles (pgcluster.LocalClusters.airflow_connections)
    superuser, rds = cl.sql(cl.c, "SELECT r.rolsuper, EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g "
                                  "ON g.oid = m.roleid WHERE m.member = r.oid AND g.rolname = 'rds_superuser') "
                                  "FROM pg_roles r WHERE r.rolname = %s", (login,))[0]
    if cl.aurora:
        return (f"   C is Aurora-shaped: pgshift logs in to C as {login!r}, made as Aurora's master user: "
                f"{'a SUPERUSER (unexpected)' if superuser else 'not a superuser'}"
                f"{', a member of rds_superuser' if rds else ''} (PGSHIFT_C_PROFILE=superuser for a superuser C)")
    return (f"   C is a self-managed PostgreSQL (PGSHIFT_C_PROFILE=superuser): pgshift logs in to C as {login!r}, "
            f"{'a superuser' if superuser else 'not a superuser'}")


def chain_was_cut_over(cl: LocalClusters) -> bool:
    """A previous demo finished its migration: B exists but C no longer subscribes, or A is fenced."""
    if not (cl.b.data_dir / "PG_VERSION").exists():
        return False
    fenced = cl.sql(cl.a, "SELECT NOT rolcanlogin FROM pg_roles WHERE rolname = 'app'")[0][0]
    return fenced or not cl.sql(cl.c, "SELECT 1 FROM pg_subscription")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ClusterError, DeploymentError) as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        sys.exit(1)
