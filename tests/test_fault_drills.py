"""Fault drills on the real deployment (api-server, LocalExecutor scheduler, dag-processor, triggerer as processes,
include/scripts/airflow_local.py), driven through the REST API, with an application writing on A as role ``app``
during every drill.

The tests run in file order on one chain: setup; B restarted under writes (the next validation is green once C
has caught up); the triggerer SIGKILLed while a sensor is deferred (a new triggerer resumes it); the scheduler
SIGKILLed during a run (a new scheduler completes it); C stopped at the gate (the cutover is refused before the
fence, A untouched); then a real cutover and A against C per table: nothing lost across all the drills; then a
fallback (C -> A) with the application writing on C, its task SIGKILLed as soon as C is fenced (its fence watchdog
unfences C within seconds, A stays fenced, the alert goes out).

Each recovery is measured and printed (``pytest -s``), and the table at the end gives the figures for the README.

To keep a sensor deferred for as long as a drill needs, B's replay is paused and A writes ~20 MB of WAL that
carries no row (``pg_logical_emit_message``, which a subscription without ``messages`` ignores), so a setup
re-run (idempotent on a finished chain) waits in ``wait_wal_lag`` with A -> B lag over its 16 MB threshold until
replay resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import psutil
import psycopg2
import pytest
from airflow_local import PROCESSES, AirflowApi, AirflowDeployment, failure_reason
from chain_helpers import NAMES, app_can_log_in, fingerprint, user_tables, wait_c_caught_up
from deployment_support import DAG_ID, ROOT, running_deployment
from deployment_support import explain as _explain
from deployment_support import report as _report
from deployment_support import wait as _wait
from pgcluster import DATABASE, LocalClusters, port_in_use, server_user
from sample_data import WriteLoad
from testing_support import wait_for

Deployment = tuple[LocalClusters, AirflowDeployment, AirflowApi]
RESULTS: list[tuple[str, str, str]] = []  # (fault, what pgshift/Airflow does, measured recovery)
STATE: dict[str, Any] = {}


def measured(fault: str, behaviour: str, figures: str) -> None:
    RESULTS.append((fault, behaviour, figures))
    print(f"\n[drill] {fault}: {figures}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    alerts = tmp_path_factory.mktemp("alerts") / "alerts.log"  # what the notifiers got (the fence watchdogs')
    notifier = [{"notifier": "file_notifier.FileNotifier",
                 "kwargs": {"path": str(alerts), "text": "{{ run_id }} | {{ message }}"}}]
    STATE["alerts"] = alerts
    with running_deployment("drills", extra_path=[ROOT / "tests" / "deadline_probe"],
                            extra_env={"AIRFLOW__PGSHIFT__DEADLINE_NOTIFIERS": json.dumps(notifier)}) as (cl, dep, api):
        yield cl, dep, api
    if RESULTS:
        print("\n| Fault | What happens | Measured recovery |\n|---|---|---|")
        for row in RESULTS:
            print("| " + " | ".join(row) + " |")


@contextlib.contextmanager
def app_writing(cl: LocalClusters, rate: float = 20) -> Iterator[WriteLoad]:
    """The application writes on A as role app for the whole drill."""
    load = WriteLoad(cl.uri(cl.a, user="app"), rate=rate).start()
    wait_for(lambda: load.committed > 5 or load.error, what="the application to write")
    try:
        yield load
    finally:
        load.stop()




def a_read_only_default(cl: LocalClusters) -> bool:
    rows = cl.sql(cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                        "WHERE d.datname = %s AND s.setrole = 0", (DATABASE,))
    return any("default_transaction_read_only=on" in (row[0] or []) for row in rows)


def meta(cl: LocalClusters, query: str, params: Any = None) -> list[tuple]:
    conn = psycopg2.connect(cl.metadata_uri().replace("+psycopg2", ""))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def trigger_of(cl: LocalClusters, run_id: str, task_id: str) -> tuple[int, int | None] | None:
    """(trigger id, the triggerer job running it) of a deferred task, from the metadata database."""
    rows = meta(cl, "SELECT t.id, t.triggerer_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
                    "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s", (DAG_ID, run_id, task_id))
    return rows[0] if rows else None


def task_state(api: AirflowApi, run_id: str, task_id: str) -> str | None:
    return api.task_states(DAG_ID, run_id).get(task_id)


def strays(dep: AirflowDeployment) -> list[psutil.Process]:
    """Processes of this deployment (its AIRFLOW_HOME) that are none of the running four nor their descendants:
    what a dead process left behind (a trigger runner, a log server, a LocalExecutor worker)."""
    live: set[int] = set()
    for name in PROCESSES:
        pid = dep.pid(name)
        with contextlib.suppress(psutil.NoSuchProcess):
            if pid:
                live |= {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid not in live and proc.status() != psutil.STATUS_ZOMBIE \
                    and proc.environ().get("AIRFLOW_HOME") == str(dep.home) \
                    and "airflow" in " ".join(proc.cmdline()):  # not a PostgreSQL server a task started (B)
                found.append(proc)
    return found


def _described(proc: psutil.Process) -> str:
    """A live process's command line ("" for one already gone or a zombie)."""
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())[:60].strip()
    return ""


def _ports(proc: psutil.Process) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {c.laddr.port for c in proc.net_connections(kind="tcp") if c.laddr}
    return set()


def kill(dep: AirflowDeployment, name: str, port: int) -> tuple[float, list[str]]:
    """SIGKILL one Airflow process's group (as a lost host or an OOM kill would); returns once it is gone, with
    whatever of it is still running (named, then ended by pid so that a new one can start: ``kill_process`` ends
    the process group, and the drills check that this is enough) and its log server's ``port`` free."""
    pid = dep.pid(name)
    assert pid, f"{name} is not running"
    family = [p for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)] if _described(p)]
    assert any(port in _ports(p) for p in family), f"no process of the {name} listens on its log port {port}"
    print(f"\n[drill] killing the {name}'s group: {len(family)} processes "
          f"({'; '.join(sorted({_described(p) for p in family}))})")
    dep.kill_process(name)
    killed_at = time.monotonic()
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 30,
             what=f"the {name} to die")
    time.sleep(0.5)  # a moment for children to notice before looking for strays (not an assertion)
    leftovers = []
    alive = [p for p in family if _described(p)]
    for proc in {p.pid: p for p in [*alive, *strays(dep)]}.values():
        with contextlib.suppress(psutil.Error):
            leftovers.append(f"pid {proc.pid}: {_described(proc)}")
            proc.kill()
    wait_for(lambda: not port_in_use(port), 30, what=f"port {port} of the dead {name} to be free")
    return killed_at, leftovers


def latest_job(cl: LocalClusters, job_type: str) -> int:
    return meta(cl, "SELECT coalesce(max(id), 0) FROM job WHERE job_type = %s AND state = 'running'",
                (job_type,))[0][0]


def pad_wal_with_replay_paused(cl: LocalClusters) -> None:
    """B stops replaying; A writes ~20 MB of WAL: A -> B lag stays over wait_wal_lag's 16 MB until replay resumes."""
    cl.sql(cl.b, "SELECT pg_wal_replay_pause()")
    cl.sql(cl.a, "SELECT pg_logical_emit_message(false, 'pgshift-drill', repeat('x', 1048576)) "
                 "FROM generate_series(1, 20)")


def resume_replay(cl: LocalClusters) -> None:
    cl.sql(cl.b, "SELECT pg_wal_replay_resume()")


def wait_deferred_in_triggerer(cl: LocalClusters, api: AirflowApi, run_id: str, task_id: str,
                               timeout: float = 120) -> int:
    """Until ``task_id`` of ``run_id`` is deferred and a triggerer runs its trigger; that triggerer's job id."""
    def running() -> int | None:
        if task_state(api, run_id, task_id) != "deferred":
            return None
        found = trigger_of(cl, run_id, task_id)
        return found[1] if found and found[1] else None

    return wait_for(running, timeout, interval=0.5, what=f"{task_id} deferred to a triggerer")


def test_setup_under_writes(deployment: Deployment) -> None:
    cl, _, api = deployment
    api.set_paused(DAG_ID, False)  # the scheduler creates the latest hourly run at once; with no chain it fails
    scheduled = wait_for(lambda: [r for r in api.runs(DAG_ID) if r["run_type"] == "scheduled"], timeout=60,
                         what="the scheduler's first validation run")[0]
    _wait(api, scheduled["dag_run_id"], 180)
    conf = {"action": "setup", "mode": "native", "b_data_dir": str(cl.b.data_dir), "b_bin_dir": str(cl.bin_dir),
            "b_port": cl.b.port, "b_os_user": server_user(), "poll_interval_seconds": 2}
    with app_writing(cl):
        started = time.monotonic()
        run_id = api.trigger(DAG_ID, conf)
        state, _ = _wait(api, run_id)
        took = time.monotonic() - started
    assert state == "success", _explain(api, run_id)
    wait_c_caught_up(cl)
    print(f"\n[drill] setup under writes: {took:.1f} s")


def test_b_restarted_under_writes_then_validation_is_green(deployment: Deployment) -> None:
    cl, dep, api = deployment
    with app_writing(cl) as load:
        restart_at = time.monotonic()
        cl.stop_node(cl.b)  # pg_ctl stop -m fast, then start: a restart of B (a wal_level change, a minor upgrade)
        cl.start_node(cl.b)
        b_up = time.monotonic() - restart_at
        committed = load.committed
        wait_for(lambda: load.committed > committed + 20, what="writes on A after B's restart")
        errors = wait_for(lambda: cl.sql(cl.c, "SELECT apply_error_count FROM pg_stat_subscription_stats")[0][0],
                          30, what="C's apply worker to count the lost publisher")
        wait_c_caught_up(cl, NAMES["slot"], timeout=120)
        caught_up = time.monotonic() - restart_at
        started = time.monotonic()
        run_id = api.trigger(DAG_ID, {})  # no conf: the configuration setup recorded
        state, _ = _wait(api, run_id)
        validated = time.monotonic() - started
    assert state == "success", _explain(api, run_id)
    report = _report(dep, "validate", run_id)
    assert report["problems"] == []
    assert report["figures"]["apply_error_count"] >= errors >= 1
    assert report["figures"]["subscription_errors"] == "recovered"
    assert any("without a new error (recovered)" in note for note in report["notes"]), report["notes"]
    measured("B restarted (pg_ctl restart -m fast) under writes",
             "C's apply worker counts one error and reconnects after wal_retrieve_retry_interval; the subscription "
             "check sees the past error recovered (second sample 6 s later: same worker, no new error), so "
             "validation, the gate and setup pass with a warning",
             f"B back in {b_up:.1f} s; C caught up {caught_up:.1f} s after the restart began; "
             f"the next validation green in {validated:.1f} s (apply_error_count={errors})")


def test_triggerer_killed_while_a_sensor_is_deferred(deployment: Deployment) -> None:
    cl, dep, api = deployment
    with app_writing(cl):
        pad_wal_with_replay_paused(cl)
        try:
            run_id = api.trigger(DAG_ID, {"action": "setup"})  # a re-run: idempotent on a finished chain
            old_job = wait_deferred_in_triggerer(cl, api, run_id, "wait_wal_lag")
            killed_at, leftovers = kill(dep, "triggerer", dep.trigger_log_port)
            dep.start_process("triggerer")
            wait_for(lambda: latest_job(cl, "TriggererJob") > old_job, 120, interval=0.5,
                     what="the new triggerer to register")
            running = time.monotonic() - killed_at
            dep.wait_healthy(120)
            taken_over = wait_for(lambda: (t := trigger_of(cl, run_id, "wait_wal_lag")) and t[1] and t[1] != old_job,
                                  120, interval=0.5, what="a new triggerer to take the trigger over")
            took_over = time.monotonic() - killed_at
            assert task_state(api, run_id, "wait_wal_lag") == "deferred"  # still waiting: B's replay is paused
        finally:
            resume_replay(cl)
        wait_for(lambda: task_state(api, run_id, "wait_wal_lag") == "success", 120, interval=0.5,
                 what="the sensor to finish under the new triggerer")
        sensor_done = time.monotonic() - killed_at
        state, _ = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    assert taken_over
    logs = api.task_log(DAG_ID, run_id, "wait_wal_lag")
    assert "A->B lag" in logs, logs[-2000:]
    # The same setup re-run after B's restart: C's apply_error_count is not zero, and the wait for the subscription
    # says the error is past instead of waiting for 12 h.
    synced = api.task_log(DAG_ID, run_id, "wait_subscription_synced")
    assert "without a new error (recovered)" in synced, synced[-2000:]
    measured("triggerer SIGKILLed (process group) while wait_wal_lag is deferred",
             "the trigger stays in the metadata database; a new triggerer takes it over once the dead one's "
             "heartbeat is older than triggerer_health_check_threshold (30 s) and polls the same check; the run "
             "succeeds",
             f"new triggerer running {running:.1f} s after the kill; trigger taken over after {took_over:.1f} s; "
             f"sensor done {sensor_done:.1f} s after the kill"
             + (f"; leftovers ended: {leftovers}" if leftovers else "; nothing of the dead triggerer left"))


def test_scheduler_killed_during_a_run(deployment: Deployment) -> None:
    cl, dep, api = deployment
    with app_writing(cl):
        pad_wal_with_replay_paused(cl)
        try:
            run_id = api.trigger(DAG_ID, {"action": "setup"})
            wait_deferred_in_triggerer(cl, api, run_id, "wait_wal_lag")
            killed_at, leftovers = kill(dep, "scheduler", dep.worker_log_port)
        finally:
            resume_replay(cl)
        # The trigger fires with no scheduler: the task waits in "scheduled" for one.
        wait_for(lambda: task_state(api, run_id, "wait_wal_lag") == "scheduled", 60, interval=0.5,
                 what="the sensor's trigger to fire while the scheduler is down")
        down = time.monotonic() - killed_at
        restarted_at = time.monotonic()
        dep.start_process("scheduler")
        dep.wait_healthy(120)
        wait_for(lambda: task_state(api, run_id, "wait_wal_lag") == "success", 120, interval=0.5,
                 what="the new scheduler to resume the sensor")
        resumed = time.monotonic() - restarted_at
        state, _ = _wait(api, run_id)
        finished = time.monotonic() - restarted_at
    assert state == "success", _explain(api, run_id)
    measured("scheduler SIGKILLed (process group, its LocalExecutor workers too) during a setup run",
             "the run stays running in the metadata database (the sensor's trigger fires meanwhile); a new "
             "scheduler queues what is ready and completes the run",
             f"scheduler down {down:.1f} s; after its restart the sensor resumed in {resumed:.1f} s and the run "
             f"finished in {finished:.1f} s"
             + (f"; leftovers ended: {leftovers}" if leftovers else "; nothing of the dead scheduler left"))


def test_c_stopped_at_the_gate_refuses_before_the_fence(deployment: Deployment) -> None:
    cl, _, api = deployment
    with app_writing(cl) as load:
        cl.stop_node(cl.c)
        try:
            started = time.monotonic()
            run_id = api.trigger(DAG_ID, {"action": "cutover", "app_roles": ["app"], "dry_run": False,
                                          "gate_window_seconds": 15})
            state, _ = _wait(api, run_id)
            refused = time.monotonic() - started
            states = api.task_states(DAG_ID, run_id)
            reason = failure_reason(api, DAG_ID, run_id)
            assert app_can_log_in(cl) and not a_read_only_default(cl)
            committed = load.committed
            wait_for(lambda: load.committed > committed + 5, what="the application to keep writing on A")
        finally:
            cl.start_node(cl.c)
        c_started = time.monotonic()
        wait_c_caught_up(cl, NAMES["slot"], timeout=120)
        caught_up = time.monotonic() - c_started
    assert state == "failed", _explain(api, run_id)
    assert states["cutover_gate"] == "failed" and states["cutover"] == "upstream_failed", states
    assert "Cutover refused before the fence" in reason and "A was not touched" in reason, reason
    assert load.fenced is None
    measured("C stopped at the gate (dry_run false)",
             "the gate cannot read C (not fatal: C may come back) and refuses when its window ends, before the "
             "fence; A is untouched and the application keeps writing",
             f"refused {refused:.1f} s after the trigger (gate window 15 s); C caught up {caught_up:.1f} s after "
             "it started again")


def replay_state(cl: LocalClusters) -> str:
    return str(cl.sql(cl.b, "SELECT pg_get_wal_replay_pause_state()")[0][0])


def test_cutover_killed_during_its_pre_verification_resumes_b(deployment: Deployment) -> None:
    """verify=delta holds B's replay at a frozen point; a lock on C keeps it there until the task is killed (marked
    failed through the REST API, as a DBA does from the UI): B must replay again without anyone's help."""
    cl, _, api = deployment
    wait_c_caught_up(cl, NAMES["slot"], timeout=120)
    blocker = psycopg2.connect(cl.uri(cl.c))
    try:
        with blocker.cursor() as cur:  # C's fingerprint of orders waits behind this lock, B paused meanwhile
            cur.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        run_id = api.trigger(DAG_ID, {"action": "cutover", "app_roles": ["app"], "dry_run": True})
        wait_for(lambda: replay_state(cl) == "paused", 180, what="the cutover's frozen point pausing B")
        api.request("PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/cutover",
                    json={"new_state": "failed"})
        killed = time.monotonic()
        wait_for(lambda: replay_state(cl) == "not paused", 60, what="B's replay resumed after the kill")
        resumed = time.monotonic() - killed
        slot_gone = wait_for_or_false(lambda: not cl.sql(
            cl.b, "SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE '%%_verify'"), 30)
    finally:
        blocker.rollback()
        blocker.close()
    assert app_can_log_in(cl) and not a_read_only_default(cl)
    wait_c_caught_up(cl, NAMES["slot"], timeout=120)
    measured("cutover task killed at a frozen point (verify=delta, B's replay paused)",
             "on_kill resumes B's replay and drops the verification slot; the next attempt drops a leftover slot",
             f"B replaying again {resumed:.1f} s after the kill request; verification slot "
             + ("dropped" if slot_gone else "left for the next attempt to drop"))


def wait_for_or_false(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_final_cutover_loses_nothing(deployment: Deployment) -> None:
    cl, dep, api = deployment
    with app_writing(cl, rate=30) as load:
        run_id = api.trigger(DAG_ID, {"action": "cutover", "app_roles": ["app"], "dry_run": False})
        state, _ = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    report = _report(dep, "cutover", run_id)
    assert report["status"] == "ready"
    assert load.fenced, "the fence ended the application's writes"
    tables = user_tables(cl, cl.a)
    assert tables == user_tables(cl, cl.c)
    for table in tables:
        assert fingerprint(cl, cl.c, table) == fingerprint(cl, cl.a, table), table
    live = cl.sql(cl.c, "SELECT count(*) FROM orders WHERE note = 'live'")[0][0]
    measured("after all the drills: a real cutover under writes",
             "fence, drain, verify per table, sequences, finalize",
             f"write downtime {report['write_downtime_seconds']:.2f} s; A = C in all {len(tables)} tables "
             f"({live} rows the application wrote during the drills)")


def fence_state(cl: LocalClusters, node: Any, run_id: str) -> str | None:
    """The state of ``node``'s fence marker if run ``run_id`` set it: the database's setting ``pgshift.fence``, or
    (where pgshift's role may not store that setting: an Aurora-shaped C) the first line of the database's comment."""
    rows = cl.sql(node, "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, "
                        "unnest(s.setconfig) c WHERE d.datname = current_database() AND c LIKE 'pgshift.fence=%%' "
                        "UNION ALL SELECT split_part(shobj_description(oid, 'pg_database'), E'\\n', 1) "
                        "FROM pg_database WHERE datname = current_database() "
                        "AND shobj_description(oid, 'pg_database') LIKE 'pgshift.fence=%%'")
    marker = json.loads(rows[0][0].removeprefix("pgshift.fence=")) if rows else None
    return marker["state"] if marker and marker["run_id"] == run_id else None


def task_process(api: AirflowApi, run_id: str, task_id: str) -> int:
    """The process running a task: Airflow 3.3's task runner titles itself "airflow worker -- <ti id>"."""
    ti_id = api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")["id"]
    (pid,) = [p.pid for p in psutil.process_iter(["cmdline"])
              if " ".join(p.info["cmdline"] or []).strip() == f"airflow worker -- {ti_id}"]
    return pid


def test_a_fallback_killed_after_fencing_c_has_c_unfenced_within_seconds(deployment: Deployment) -> None:
    """After the real cutover (the way back armed), the application writes on C; the fallback's task process is
    SIGKILLed (no on_kill) as soon as C is fenced. Its fence watchdog unfences C: one side writable, never both."""
    cl, _, api = deployment
    load = WriteLoad(cl.uri(cl.c, user="app"), rate=20).start()
    wait_for(lambda: load.committed > 5 or load.error, what="the application to write on C")
    # A's apply worker waits behind this lock: the fallback's drain cannot end, so C stays fenced until the kill.
    blocker = psycopg2.connect(cl.uri(cl.a), options="-c default_transaction_read_only=off")
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        run_id = api.trigger(DAG_ID, {"action": "fallback", "dry_run": False})
        wait_for(lambda: fence_state(cl, cl.c, run_id) == "fenced", timeout=240, interval=0.1, what="C's fence")
        os.kill(task_process(api, run_id, "fallback"), signal.SIGKILL)
        killed = time.monotonic()
        both: list[float] = []

        def c_writable() -> float | None:
            c, a = app_can_log_in(cl, cl.c), app_can_log_in(cl, cl.a)
            if c and a:
                both.append(time.monotonic() - killed)
            return time.monotonic() if c else None

        writable = wait_for(c_writable, timeout=60, interval=0.1, what="C writable again")
        assert not app_can_log_in(cl, cl.a) and not both, both
    finally:
        blocker.rollback()
        blocker.close()
        load.stop()
    print(f"\n[drill] C writable {writable - killed:.2f} s after the fallback task's process was killed")
    assert writable - killed < 10
    state, _ = _wait(api, run_id, 600)
    assert state == "failed", _explain(api, run_id)
    states = api.task_states(DAG_ID, run_id)
    assert states["fallback_watchdog"] == "failed" and states["fallback"] == "failed", states
    said = api.task_log(DAG_ID, run_id, "fallback_watchdog")
    assert re.search(rf"fallback run {re.escape(run_id)} died after fencing C at \S+; the fence watchdog unfenced "
                     r"C at \S+ \(roles app can log in again.*A stays fenced", said), said[-2000:]
    alerts = STATE["alerts"].read_text()
    assert f"{run_id} | pgshift: fallback run {run_id} died after fencing C" in alerts, alerts
    # C exactly as before its fence, A still fenced, the way back still armed.
    assert fence_state(cl, cl.c, run_id) is None and not app_can_log_in(cl, cl.a)
    assert cl.sql(cl.a, "SELECT subenabled FROM pg_subscription WHERE subname = 'pgshift_fallback'") == [(True,)]
    measured("fallback task SIGKILLed (its process) right after C's fence, application writing on C",
             "fallback_watchdog (in the triggerer) finds C's lease free and lifts C's fence; A stays fenced; the run "
             "fails saying so and the notifiers get the alert",
             f"C writable {writable - killed:.2f} s after the kill; never both writable")


def test_the_fallback_through_the_api_brings_the_application_back_to_a(deployment: Deployment) -> None:
    """After the killed fallback left the way back armed: the real fallback, triggered through the REST API as a DBA
    would, completes on the deployment; every write the application made on C is on A; finish is then refused."""
    cl, dep, api = deployment
    with contextlib.closing(psycopg2.connect(cl.uri(cl.c, user="app"))) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("INSERT INTO orders (customer, amount, note) SELECT 6, g, 'before the fallback' "
                    "FROM generate_series(1, 25) g RETURNING id")
        written = [row[0] for row in cur.fetchall()]
    run_id = api.trigger(DAG_ID, {"action": "fallback", "dry_run": False})
    state, _ = _wait(api, run_id)
    assert state == "success", _explain(api, run_id)
    assert api.task_states(DAG_ID, run_id)["record_fallback"] == "success"
    report = _report(dep, "fallback", run_id)
    assert report["status"] == "fallen back"
    for table in user_tables(cl, cl.a):
        assert fingerprint(cl, cl.a, table) == fingerprint(cl, cl.c, table), table
    assert cl.sql(cl.a, "SELECT count(*) FROM orders WHERE id = ANY(%s)", (written,)) == [(len(written),)]
    assert app_can_log_in(cl, cl.a) and not app_can_log_in(cl, cl.c)
    assert cl.sql(cl.a, "SELECT count(*) FROM pg_subscription") == [(0,)]
    # The way back is taken: finish (stay on C) no longer applies, and says so before changing anything.
    refused = api.trigger(DAG_ID, {"action": "finish", "dry_run": False})
    assert _wait(api, refused)[0] == "failed"
    said = api.task_log(DAG_ID, refused, "configuration")
    assert "the way back is fallen back already" in said and "nothing to finish" in said, said[-2000:]
    assert app_can_log_in(cl, cl.a)
    measured("fallback through the REST API after a killed one", "the retry-safe fallback completes; finish refused",
             f"write downtime {report['write_downtime_seconds']:.2f} s; A = C in every table")
