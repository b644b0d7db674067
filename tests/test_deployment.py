"""The DAGs on a real Airflow deployment, driven through the REST API as users drive them.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as processes with the metadata on
PostgreSQL (include/scripts/airflow_local.py, what `make demo` runs), over their own A, B and C. The tests
of this module run in order on one chain: the scheduler's first hourly validation before any setup, a setup
with non-default names under application writes (sensors deferred to the triggerer), a validation with no
conf and the same scheduled run re-run after the setup (both check the recorded configuration), a dry-run
cutover, the real cutover, then the finish. Meanwhile probe runs check the deadline alert. Last, on the same
deployment with A, B and C reset, a dms-mode setup against the session's moto server (``aws_default`` points at
it) whose DMS waits are seen deferred to the triggerer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from airflow_local import AirflowApi, AirflowDeployment, failure_reason
from chain_helpers import SlotReader, app_can_log_in, fingerprint, secrets_in, user_tables
from deployment_support import DAG_ID, ROOT, running_deployment
from deployment_support import explain as _explain
from deployment_support import report as _report
from deployment_support import wait as _wait
from pgcluster import LocalClusters, server_user
from sample_data import WriteLoad
from testing_support import MOTO_INSTANCE_MODEL, MOTO_TASK_MODEL, MotoServer, wait_for

import pgshift

PROBE = "pgshift_deadline_probe"
DEADLINE_SECONDS = 25  # [pgshift] deadline_seconds for every DAG of this deployment
NAMES = {"publication_name": "app_pub", "physical_slot_name": "b_physical", "slot_name": "c_slot",
         "subscription_name": "c_sub"}
STATE: dict[str, Any] = {}  # what the ordered tests of this module hand on to each other


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory,
           moto_server: MotoServer) -> Iterator[tuple[LocalClusters, AirflowDeployment, AirflowApi]]:
    alerts = Path(tmp_path_factory.mktemp("alerts")) / "deadline-alerts.log"
    notifier = [{"notifier": "file_notifier.FileNotifier",
                 "kwargs": {"path": str(alerts), "text": "{{ run_id }} | {{ message }}"}}]
    STATE["alerts"] = alerts
    with running_deployment("deploy", extra_dags=[ROOT / "tests" / "deadline_probe" / f"{PROBE}.py"],
                            extra_path=[ROOT / "tests" / "deadline_probe"], extra_env={
                                **moto_server.env(),
                                "AIRFLOW__PGSHIFT__DEADLINE_SECONDS": str(DEADLINE_SECONDS),
                                "AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS": json.dumps(notifier)}) as (cl, dep, api):
        api.wait_dag(PROBE)
        yield cl, dep, api


def test_deadline_probe_runs_start(deploy) -> None:
    """Three probe runs go on beside the migration; test_deadline_alerts_only_overrunning_runs judges them."""
    _, _, api = deploy
    STATE["probe_failed"] = api.trigger(PROBE, {"fail": True})
    STATE["probe_success"] = api.trigger(PROBE, {})
    STATE["probe_overrun"] = api.trigger(PROBE, {"sleep_seconds": DEADLINE_SECONDS + 40})
    api.set_paused(PROBE, False)


def test_the_api_server_knows_the_installed_provider(deploy) -> None:
    """The deployment imports pgshift as an installed provider (its plugins folder is empty): the api-server lists
    it and offers its `citus` connection type in the connection form."""
    _, dep, api = deploy
    assert not any((dep.home / "plugins").glob("**/*.py"))
    providers = {p["package_name"]: p["version"] for p in api.request("GET", "/api/v2/providers")["providers"]}
    assert providers.get("airflow-provider-pgshift") == pgshift.__version__
    forms = {m["connection_type"]: m["hook_name"] for m in api.request("GET", "/ui/connections/hook_meta")}
    assert forms.get("citus") == "Citus coordinator (pgshift)"


def test_scheduled_validation_before_any_setup_says_there_is_no_chain(deploy) -> None:
    _, _, api = deploy
    api.set_paused(DAG_ID, False)  # the scheduler creates the latest hourly run at once (catchup off)
    run = wait_for(lambda: [r for r in api.runs(DAG_ID) if r["run_type"] == "scheduled"], timeout=60,
                   what="the scheduler's first validation run")[0]
    state, _ = _wait(api, run["dag_run_id"], 180)
    reason = failure_reason(api, DAG_ID, run["dag_run_id"])
    assert state == "failed", _explain(api, run["dag_run_id"])
    assert "no chain to validate yet" in reason, reason
    assert "connection" not in reason.lower(), reason
    STATE["scheduled_run"] = run["dag_run_id"]


def test_setup_through_the_api_defers_its_sensors_to_the_triggerer(deploy) -> None:
    cl, dep, api = deploy
    conf = {"action": "setup", "mode": "native", **NAMES, "b_data_dir": str(cl.b.data_dir),
            "b_bin_dir": str(cl.bin_dir), "b_port": cl.b.port, "b_os_user": server_user(),
            "poll_interval_seconds": 2}
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=10).start()
    run_id = api.trigger(DAG_ID, conf)
    state, deferred = _wait(api, run_id)
    load.stop()
    assert state == "success", _explain(api, run_id)
    states = api.task_states(DAG_ID, run_id)
    setup_tasks = ["preflight", "basebackup_b", "wait_wal_lag", "create_publication", "create_logical_slot",
                   "copy_schema_to_c", "create_subscription", "wait_subscription_synced", "wait_cdc_lag",
                   "record_configuration"]
    assert {t: states[t] for t in setup_tasks} == dict.fromkeys(setup_tasks, "success")
    assert states["validate"] == "skipped" and states["dms_task"] == "skipped"
    # A sensor left the worker for the triggerer and came back: deferred was seen, the triggerer wrote its log.
    assert deferred & {"wait_wal_lag", "wait_subscription_synced", "wait_cdc_lag"}, deferred
    sensor = sorted(deferred & {"wait_wal_lag", "wait_subscription_synced", "wait_cdc_lag"})[0]
    trigger_logs = list((dep.home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/task_id={sensor}/*trigger*"))
    assert trigger_logs, f"no triggerer log for {sensor}"
    assert cl.sql(cl.c, "SELECT subname FROM pg_subscription") == [("c_sub",)]
    STATE["setup_run"] = run_id


def test_validate_with_no_conf_checks_the_recorded_configuration(deploy) -> None:
    cl, dep, api = deploy
    run_id = api.trigger(DAG_ID, {})
    state, _ = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    configuration = _report(dep, "validate", run_id)["configuration"]
    for key, value in NAMES.items():
        assert configuration["values"][key] == value and configuration["sources"][key] == "recorded", key
    assert configuration["values"]["b_data_dir"] == str(cl.b.data_dir)
    assert STATE["setup_run"] in configuration["summary"]
    assert secrets_in(json.dumps(configuration), cl) == []


def test_the_scheduled_run_validates_the_recorded_chain_after_setup(deploy) -> None:
    """The scheduler's own run (no conf), cleared after the setup, now checks the chain setup built."""
    cl, dep, api = deploy
    run_id = STATE["scheduled_run"]
    # Airflow 3.3.2 answers 500 to a clear while the run's queued_at deadline is pending (apache/airflow#70368):
    # clear once the scheduler has handled it (DEADLINE_SECONDS after the run was queued).
    wait_for(lambda: _deadline_handled(cl, run_id), timeout=120, what=f"the deadline of {run_id} to pass")
    api.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/clear", json={"dry_run": False})
    wait_for(lambda: api.run(DAG_ID, run_id)["state"] != "failed", timeout=60, what="the cleared run to restart")
    state, _ = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    run = api.run(DAG_ID, run_id)
    assert run["run_type"] == "scheduled" and not run["conf"]
    values = _report(dep, "validate", run_id)["configuration"]["values"]
    assert {k: values[k] for k in NAMES} == NAMES


def test_cutover_dry_run(deploy) -> None:
    cl, dep, api = deploy
    dry = api.trigger(DAG_ID, {"action": "cutover", "app_roles": ["app"]})  # dry_run is on by default
    state, _ = _wait(api, dry)
    assert state == "success", _explain(api, dry)
    assert _report(dep, "cutover", dry)["status"] == "dry run passed"
    assert api.task_states(DAG_ID, dry)["publish_migration"] == "skipped"
    assert cl.sql(cl.a, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'") == [(True,)]
    assert api.task_states(DAG_ID, dry)["fence_watchdog"] == "skipped"


def test_a_cutover_killed_after_the_fence_is_unfenced_within_seconds(deploy) -> None:
    """SIGKILL of the cutover task's process once A is fenced: no on_kill runs, and the retry comes late."""
    cl, _, api = deploy
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=10).start()
    wait_for(lambda: load.committed > 5, what="the application to write")
    # B's replay paused: the drain waits for it, so the cutover stays fenced until it is killed. The run's
    # conf allows the A -> B lag in seconds that the pause builds up before the fence.
    cl.sql(cl.b, "SELECT pg_wal_replay_pause()", db="postgres")
    try:
        # verify=full: verify=delta refuses a paused B before the fence (tests/test_delta_verify.py).
        run_id = api.trigger(DAG_ID, {"action": "cutover", "app_roles": ["app"], "dry_run": False,
                                      "wal_lag_max_seconds": 3600, "verify": "full"})
        wait_for(lambda: _marker(cl, run_id) == "fenced", timeout=240, interval=0.1, what="the fence")
        pid = _task_process(api, run_id, "cutover")
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        writable = wait_for(lambda: app_can_log_in(cl) and time.monotonic(), timeout=60, interval=0.1,
                            what="A writable again")
    finally:
        cl.sql(cl.b, "SELECT pg_wal_replay_resume()", db="postgres")
    load.stop()
    print(f"A writable {writable - killed:.2f} s after the cutover task's process was killed")
    assert writable - killed < 10
    state, _ = _wait(api, run_id, 600)
    assert state == "failed"
    states = api.task_states(DAG_ID, run_id)
    logs = {t: api.task_log(DAG_ID, run_id, t)[-3000:] for t in ("fence_watchdog", "cutover")}
    assert states["fence_watchdog"] == "failed" and states["cutover"] == "failed", (states, logs)
    said = api.task_log(DAG_ID, run_id, "fence_watchdog")
    assert re.search(rf"cutover run {re.escape(run_id)} died after fencing A at \S+; the fence watchdog unfenced "
                     r"A at \S+", said), said[-2000:]
    alerts = STATE["alerts"].read_text()
    assert f"{run_id} | pgshift: cutover run {run_id} died after fencing A" in alerts, alerts
    # Nothing was finalized: the chain still runs, A is exactly as before the fence.
    assert cl.sql(cl.c, "SELECT subname, subenabled FROM pg_subscription") == [("c_sub", True)]
    assert cl.sql(cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                        "WHERE d.datname = current_database()") == []


def _marker(cl: LocalClusters, run_id: str) -> str | None:
    rows = cl.sql(cl.a, "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, "
                        "unnest(s.setconfig) c WHERE d.datname = current_database() AND c LIKE 'pgshift.fence=%%'")
    marker = json.loads(rows[0][0].removeprefix("pgshift.fence=")) if rows else None
    return marker["state"] if marker and marker["run_id"] == run_id else None


def _task_process(api: AirflowApi, run_id: str, task_id: str) -> int:
    """The process running a task: Airflow 3.3's task runner titles itself "airflow worker -- <ti id>"."""
    import psutil

    ti_id = api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")["id"]
    (pid,) = [p.pid for p in psutil.process_iter(["cmdline"])
              if " ".join(p.info["cmdline"] or []).strip() == f"airflow worker -- {ti_id}"]
    return pid




def test_the_real_cutover(deploy) -> None:
    cl, dep, api = deploy
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=30).start()
    wait_for(lambda: load.committed > 20, what="the application to write")
    real = api.trigger(DAG_ID, {"action": "cutover", "app_roles": ["app"], "dry_run": False})
    state, _ = _wait(api, real)
    committed = load.stop()
    assert state == "success", _explain(api, real)
    states = api.task_states(DAG_ID, real)
    assert [states[t] for t in ("cutover_gate", "cutover", "publish_migration")] == ["success"] * 3
    report = _report(dep, "cutover", real)
    assert report["status"] == "ready" and report["write_downtime_seconds"] > 0
    assert load.fenced and committed > 20
    # Nothing lost: every table on C has A's rows, row for row.
    for table in user_tables(cl, cl.a):
        assert fingerprint(cl, cl.c, table) == fingerprint(cl, cl.a, table), table
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        psycopg2.connect(cl.uri(cl.a, user="app")).close()
    assert cl.sql(cl.c, "SELECT subname FROM pg_subscription") == []
    logs = "\n".join(api.task_log(DAG_ID, real, t) for t in ("cutover_gate", "cutover"))
    assert secrets_in(logs, cl) == []


def test_deadline_alerts_only_overrunning_runs(deploy) -> None:
    cl, _, api = deploy
    alerts: Path = STATE["alerts"]
    overrun, failed, succeeded = STATE["probe_overrun"], STATE["probe_failed"], STATE["probe_success"]
    assert _wait(api, failed, 300, PROBE)[0] == "failed"
    assert _wait(api, succeeded, 300, PROBE)[0] == "success"
    lines = wait_for(lambda: [line for line in (alerts.read_text().splitlines() if alerts.exists() else [])
                              if line.startswith(overrun)], timeout=180, what="the overrunning run's alert")
    assert f"DAG {PROBE} run {overrun} is still running at its deadline" in lines[0], lines
    # Airflow fired the failed run's deadline too (it keeps a failed run's deadline); the notifier said nothing.
    meta = psycopg2.connect(cl.metadata_uri().replace("+psycopg2", ""))
    try:
        with meta.cursor() as cur:
            cur.execute("SELECT r.run_id, d.missed, c.state FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
                        "LEFT JOIN callback c ON c.id = d.callback_id WHERE r.dag_id = %s", (PROBE,))
            deadlines = {run_id: (missed, cb_state) for run_id, missed, cb_state in cur.fetchall()}
    finally:
        meta.close()
    assert succeeded not in deadlines  # a successful run's deadline is deleted
    wait_for(lambda: _callback_done(cl, failed), timeout=120, what="the failed run's deadline callback")
    text = alerts.read_text()
    assert failed not in text and succeeded not in text, text
    assert deadlines[overrun][0] is True


def _deadline_handled(cl: LocalClusters, run_id: str) -> bool:
    """The run's deadline is gone (pruned) or marked missed in the metadata database."""
    meta = psycopg2.connect(cl.metadata_uri().replace("+psycopg2", ""))
    try:
        with meta.cursor() as cur:
            cur.execute("SELECT d.missed FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id WHERE r.run_id = %s",
                        (run_id,))
            return all(missed for (missed,) in cur.fetchall())
    finally:
        meta.close()


def _callback_done(cl: LocalClusters, run_id: str) -> bool:
    meta = psycopg2.connect(cl.metadata_uri().replace("+psycopg2", ""))
    try:
        with meta.cursor() as cur:
            cur.execute("SELECT c.state FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
                        "JOIN callback c ON c.id = d.callback_id WHERE r.run_id = %s", (run_id,))
            return [row[0] for row in cur.fetchall()] == ["success"]
    finally:
        meta.close()


def test_finish_through_the_api_leaves_nothing_of_the_chain(deploy) -> None:
    """After the real cutover, the DBA stays on C: finish, triggered through the REST API, drops the way back and
    the chain's replication objects on A, B and C; A stays fenced, the application stays on C."""
    cl, dep, api = deploy
    run_id = api.trigger(DAG_ID, {"action": "finish", "dry_run": False})
    state, _ = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    assert api.task_states(DAG_ID, run_id)["record_finish"] == "success"
    dropped = _report(dep, "finish", run_id)["dropped"]
    assert any(item.startswith("subscription ") and item.endswith(" on A (and its slot on C)") for item in dropped), \
        dropped
    for node in (cl.a, cl.b, cl.c):
        assert cl.sql(node, "SELECT count(*) FROM pg_subscription") == [(0,)], node.name
        assert cl.sql(node, "SELECT count(*) FROM pg_publication") == [(0,)], node.name
    for node in (cl.a, cl.c):  # B's own slot, if the finalize left one, is dropped once B replays it
        assert cl.sql(node, "SELECT count(*) FROM pg_replication_slots") == [(0,)], node.name
    assert not app_can_log_in(cl)
    psycopg2.connect(cl.uri(cl.c, user="app")).close()


DMS_WAITS = {"dms_replication_instance", "dms_task", "wait_dms_full_load"}


def test_a_dms_setup_defers_its_dms_waits_to_the_triggerer(deploy, moto_server) -> None:
    """Each DMS wait takes three describes per state change on the moto server, so each is read once in the
    worker, then deferred: the instance available, the task ready, the full load complete."""
    cl, dep, api = deploy
    cl.reset_chain()
    moto_server.reset()
    for model in (MOTO_INSTANCE_MODEL, MOTO_TASK_MODEL):
        moto_server.set_transition(model, progression="manual", times=3)
    conf = {"action": "setup", "mode": "dms", **NAMES, "b_data_dir": str(cl.b.data_dir),
            "b_bin_dir": str(cl.bin_dir), "b_port": cl.b.port, "b_os_user": server_user(),
            "poll_interval_seconds": 1, "dms_ssl_mode": "none"}
    with SlotReader(cl, NAMES["slot_name"]):
        run_id = api.trigger(DAG_ID, conf)
        state, deferred = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    states = api.task_states(DAG_ID, run_id)
    assert {t: states[t] for t in (*DMS_WAITS, "dms_start_task", "wait_cdc_lag")} == \
        dict.fromkeys((*DMS_WAITS, "dms_start_task", "wait_cdc_lag"), "success")
    assert states["create_subscription"] == "skipped"
    assert DMS_WAITS <= deferred, deferred
    for task_id in DMS_WAITS:
        logs = list((dep.home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/task_id={task_id}/*trigger*"))
        assert logs, f"no triggerer log for {task_id}"
    tasks = _dms(moto_server).describe_replication_tasks()["ReplicationTasks"]
    assert [(t["ReplicationTaskIdentifier"], t["Status"]) for t in tasks] == [("pgshift-b-to-c", "running")]


def _dms(moto_server: MotoServer) -> Any:
    """A boto3 DMS client of the moto server the deployment talks to."""
    import boto3

    return boto3.client("dms", endpoint_url=moto_server.url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
