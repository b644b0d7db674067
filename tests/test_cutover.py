"""The cutover on real servers: refused on lag, a dry run that changes nothing, a parity mismatch that rolls
the fence back, and the real thing under live pgbench writes.

The scenarios share one chain and run in file order; the last one finishes the migration.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import psycopg2
import pytest
from chain_helpers import (
    CaptureFds,
    app_can_log_in,
    chain_conf,
    chain_config,
    fingerprint,
    run_dag,
    secrets_in,
    set_up_chain,
    sql,
    task_states,
    user_tables,
    wait_c_caught_up,
)
from pgcluster import DATABASE
from testing_support import log_excerpt


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    set_up_chain(clusters)
    yield tmp_path_factory.mktemp("reports")
    clusters.unfence_a()


def cutover_conf(cl, reports: Path, **overrides):
    conf = {"action": "cutover", "app_roles": ["app"], "dry_run": False, "gate_readings": 2,
            "gate_interval_seconds": 0.2, "report_dir": str(reports), **overrides}
    return chain_conf(cl, **conf)




def fence_state(cl) -> dict:
    return {
        "app_can_log_in": app_can_log_in(cl),
        "db_settings": sql(cl, cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d "
                                     "ON d.oid = s.setdatabase WHERE d.datname = %s", (DATABASE,)),
    }


def report_of(reports: Path, dag_run) -> dict:
    from pgshift.common.report import safe_name

    return json.loads((reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())


def everything(cl) -> dict:
    """What a dry run must leave as it found it, on A, B and C."""
    tables = user_tables(cl, cl.a)
    return {
        "fence": fence_state(cl),
        "a_tables": {t: fingerprint(cl, cl.a, t) for t in tables},
        "c_tables": {t: fingerprint(cl, cl.c, t) for t in tables},
        "c_sequences": sql(cl, cl.c, "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"),
        "subscription": sql(cl, cl.c, "SELECT oid, subenabled, subslotname FROM pg_subscription"),
        "b_slots": sql(cl, cl.b, "SELECT slot_name, plugin FROM pg_replication_slots ORDER BY 1"),
        "a_slots": sql(cl, cl.a, "SELECT slot_name FROM pg_replication_slots ORDER BY 1"),
        "publication": sql(cl, cl.a, "SELECT oid, pubname FROM pg_publication"),
    }


def test_lag_over_threshold_refuses_before_the_fence(clusters, chain):
    sql(clusters, clusters.b, "SELECT pg_wal_replay_pause()")
    try:
        sql(clusters, clusters.a, "INSERT INTO orders (customer, amount, note) VALUES (1, 1, 'unreplayed')")
        with CaptureFds() as out:
            dag_run = run_dag(cutover_conf(clusters, chain, wal_lag_max_bytes=1, gate_window_seconds=1))
    finally:
        sql(clusters, clusters.b, "SELECT pg_wal_replay_resume()")
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["cutover_gate"] == "failed"
    assert states["cutover"] == "upstream_failed"
    assert "Cutover refused before the fence: not 2 readings in bounds in a row within 1 s" in out.text
    assert "A was not touched" in out.text
    assert "A->B lag" in out.text and "is over the threshold of 1 bytes" in out.text
    assert fence_state(clusters) == {"app_can_log_in": True, "db_settings": []}


def test_dry_run_changes_nothing(clusters, chain):
    wait_c_caught_up(clusters)
    before = everything(clusters)
    with CaptureFds() as out:
        dag_run = run_dag(cutover_conf(clusters, chain, dry_run=True))
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert states["publish_migration"] == "skipped"
    assert states["preflight"] == "skipped" and states["validate"] == "skipped"
    assert everything(clusters) == before
    report = report_of(chain, dag_run)
    assert report["status"] == "dry run passed"
    assert {t["table"] for t in report["tables"]} == set(before["a_tables"])
    assert all(t["status"] == "equal" for t in report["tables"]), report["tables"]
    assert "fenced" not in report["timeline"] and "write_downtime_seconds" not in report
    assert "Cutover DRY RUN DRY RUN PASSED" in out.text


def test_parity_mismatch_aborts_and_unfences_a(clusters, chain):
    """verify=full: every table hashed inside the fence (verify=delta catches this before it: test_delta_verify)."""
    original = sql(clusters, clusters.c, "SELECT note FROM orders WHERE id = 7")[0][0]
    sql(clusters, clusters.c, "UPDATE orders SET note = 'changed behind replication' WHERE id = 7")
    try:
        with CaptureFds() as out:
            dag_run = run_dag(cutover_conf(clusters, chain, verify="full"))
    finally:
        sql(clusters, clusters.c, "UPDATE orders SET note = %s WHERE id = 7", (original,))
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["cutover"] == "failed" and states["publish_migration"] == "upstream_failed"
    assert "Cutover failed after the fence and was rolled back: A is unfenced" in out.text
    assert "parity mismatch A vs C in 1 table(s): public.orders" in out.text
    assert fence_state(clusters) == {"app_can_log_in": True, "db_settings": []}
    report = report_of(chain, dag_run)
    assert report["status"] == "rolled back"
    assert {"fenced", "drained", "unfenced"} <= set(report["timeline"]) and "verified" not in report["timeline"]
    assert [t["table"] for t in report["tables"] if t["status"] == "differs"] == ["public.orders"]
    assert sql(clusters, clusters.c, "SELECT subenabled FROM pg_subscription") == [(True,)]


def test_an_interrupted_cutover_is_unfenced_by_its_retry(clusters, chain):
    """A worker that died after the fence leaves a fence record; the task's next try lifts the fence."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.common.report import safe_name
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.operators.cutover import CutoverOperator
    from pgshift.migration.switchover.fence import apply_fence, plan_fence

    run_id = "manual__interrupted"
    with PrimaryHook("pgshift_a") as a:
        record = plan_fence(a, ["app"], run_id)
        apply_fence(a, record, ["app"])
        record.save(chain / "cutover" / safe_name(run_id) / "fence.json")
    assert fence_state(clusters)["app_can_log_in"] is False
    op = CutoverOperator(task_id="cutover", config=chain_config(mode="native", app_roles=["app"], dry_run=False,
                                                                report_dir=str(chain)))
    with pytest.raises(AirflowFailException, match=r"died after fencing A at .*; this retry unfenced A at "):
        op.execute({"run_id": run_id, "dag": SimpleNamespace(dag_id="hybrid_aurora_migration")})
    assert fence_state(clusters) == {"app_can_log_in": True, "db_settings": []}


class AppWrites:
    """The application on A, as role ``app``: pgbench (tpcb-like) plus inserts into ``orders`` (a sequence)."""

    def __init__(self, cl) -> None:
        self.cl, self.orders, self.errors = cl, 0, []
        env = {**os.environ, "PGPASSWORD": cl.passwords()["app"]}
        self.pgbench = subprocess.Popen(
            [cl.tool("pgbench"), "-n", "-c", "2", "-T", "300", "-h", "127.0.0.1", "-p", str(cl.a.port), "-U", "app",
             DATABASE], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._thread = threading.Thread(target=self._orders, daemon=True)
        self._thread.start()

    def _orders(self) -> None:
        conn = psycopg2.connect(self.cl.uri(self.cl.a, user="app"))
        try:
            with conn.cursor() as cur:
                while True:
                    cur.execute("INSERT INTO orders (customer, amount, note) VALUES (1, 2, 'cutover')")
                    conn.commit()
                    self.orders += 1
        except psycopg2.Error as exc:  # the fence terminates this session: that is the end of the load
            self.errors.append(str(exc))

    def wait_until_busy(self) -> None:
        from testing_support import wait_for

        wait_for(lambda: self.orders > 50, 30, what="application writes on A")

    def finish(self) -> str:
        self._thread.join(60)
        try:
            out, _ = self.pgbench.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.pgbench.kill()
            out, _ = self.pgbench.communicate()
        return out


def test_cutover_under_live_writes(clusters, chain):
    history_before = sql(clusters, clusters.a, "SELECT count(*) FROM pgbench_history")[0][0]
    rows_before = sum(fingerprint(clusters, clusters.a, t)[0] for t in user_tables(clusters, clusters.a))
    app = AppWrites(clusters)
    app.wait_until_busy()
    with CaptureFds() as out:
        dag_run = run_dag(cutover_conf(clusters, chain))
    pgbench_out = app.finish()
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", log_excerpt(out.text)
    assert states["publish_migration"] == "success"
    # The fence ended the application's sessions; it cannot come back.
    assert "terminating connection due to administrator command" in " ".join(app.errors) + pgbench_out
    assert not app_can_log_in(clusters)
    (settings,) = fence_state(clusters)["db_settings"][0]
    assert settings[0] == "default_transaction_read_only=on"
    marker = json.loads(settings[1].removeprefix("pgshift.fence="))  # A's own record of the fence it keeps
    assert (marker["run_id"], marker["state"], marker["roles"]) == (dag_run.run_id, "ready", ["app"])
    assert [h["state"] for h in marker["history"]][1:] == ["fenced", "committed"]
    conn = psycopg2.connect(clusters.uri(clusters.a))  # a new session, even a superuser's, starts read-only
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW default_transaction_read_only")
            assert cur.fetchone() == ("on",)
    finally:
        conn.close()
    # C holds every committed row: same count and content hash in every table.
    tables = user_tables(clusters, clusters.a)
    for table in tables:
        assert fingerprint(clusters, clusters.a, table) == fingerprint(clusters, clusters.c, table), table
    cutover_orders = sql(clusters, clusters.c, "SELECT count(*) FROM orders WHERE note = 'cutover'")[0][0]
    # Every acknowledged commit is on C. More can be: a commit whose acknowledgement the fence's
    # termination cut off is on A, and so on C, without the client having counted it.
    assert cutover_orders >= app.orders > 50, (app.errors, log_excerpt(out.text))
    history_on_c = sql(clusters, clusters.c, "SELECT count(*) FROM pgbench_history")[0][0] - history_before
    assert history_on_c > 0
    # Sequences continue on C where A stopped.
    # (Not max(id) + 1: an insert that the fence rolled back has used a value too.)
    last_on_a, max_id = sql(clusters, clusters.a,
                            "SELECT last_value, (SELECT max(id) FROM orders) FROM orders_id_seq")[0]
    assert last_on_a >= max_id
    assert sql(clusters, clusters.c, "SELECT nextval('orders_id_seq')")[0][0] == last_on_a + 1
    # Finalized: no subscription on C, no slot left on B.
    assert sql(clusters, clusters.c, "SELECT count(*) FROM pg_subscription")[0][0] == 0
    assert sql(clusters, clusters.b, "SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'") == [(0,)]
    report = report_of(chain, dag_run)
    assert report["status"] == "ready"
    verify = report["verify"]  # verify=delta: every row before the fence, the last changes inside it
    assert verify["method"] == "delta" and verify["replay_resumed"] is True, verify
    assert verify["rounds"][0]["kind"] == "full" and verify["rounds"][0]["tables"] == len(tables), verify
    # The application only adds rows: the first frozen point saw at least those there before it started.
    assert verify["rows_verified_before_fence"] >= verify["rounds"][0]["rows"] >= rows_before > 0, verify
    inside = verify["inside_fence"]
    assert inside["keys"] > 0 and "public.orders" in inside["tables_by_key"], inside
    assert inside["tables_whole"] == {"public.pgbench_history": "no primary key"}, inside
    assert all(t["status"] == "equal" for t in inside["tables"]), inside
    assert verify["other_sessions_on_c"] == [] and verify["forecast"]["seconds"] > 0, verify
    assert sql(clusters, clusters.b, "SELECT pg_get_wal_replay_pause_state()") == [("not paused",)]
    assert sql(clusters, clusters.b, "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE "
                                     "'%%_verify'") == []
    assert list(report["timeline"]) == ["pre_verified", "fenced", "sessions_ended", "final_lsn_taken", "b_replayed",
                                        "drained", "access_synced", "verified", "sequences_set", "access_verified",
                                        "login_proven", "fallback_armed", "committed", "finalized", "login_opened",
                                        "ready"]
    # The application's role works on C with its unchanged password.
    conn = psycopg2.connect(clusters.uri(clusters.c, user="app"))
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (customer, amount, note) VALUES (1, 1, 'on C') RETURNING id")
        assert cur.fetchone()[0] == last_on_a + 2
    conn.close()
    assert len(report["terminated_sessions"]) >= 3  # pgbench's two clients and the orders writer
    assert 0 < report["write_downtime_seconds"] < 60
    assert {t["table"] for t in report["tables"]} == set(tables)
    assert any(s["sequence"] == "public.orders_id_seq" and s["action"] == "set" for s in report["sequences"])
    assert "write downtime" in out.text
    assert secrets_in(out.text, clusters) == []


def test_a_fenced_a_refuses_another_cutover(clusters, chain):
    with CaptureFds() as out:
        dag_run = run_dag(cutover_conf(clusters, chain, dry_run=True))
    assert str(dag_run.state) == "failed"
    assert task_states(dag_run)["cutover_gate"] == "failed"
    assert "app_roles: 'app' cannot log in already (NOLOGIN): is A still fenced by an earlier cutover?" in out.text
    assert "already defaults to read-only transactions" in out.text
