"""The way back on real servers (issue 13): the cutover arms reverse replication C -> A; the application writes on
C; a fallback whose verify fails lifts C's fence and leaves A fenced; a fallback brings every write made on C back
to A (and B) and the application back to A; ``finish`` leaves nothing of pgshift's replication on A, B or C.

One chain and one cutover for the fallback tests, in file order; the finish test builds a chain of its own.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

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
    wait_for,
)
from pgcluster import DATABASE
from testing_support import assert_run_succeeded

SUB, PUB = "pgshift_fallback", "pgshift_fallback_pub"


def cutover(cl, reports: Path):
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, action="cutover", app_roles=["app"], dry_run=False, gate_readings=2,
                                     gate_interval_seconds=0.2, report_dir=str(reports)))
    assert_run_succeeded(dag_run, out.text)
    return dag_run


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    set_up_chain(clusters)
    reports = tmp_path_factory.mktemp("reports")
    yield SimpleNamespace(reports=reports, cutover=cutover(clusters, reports))
    clusters.unfence_a()


def fallback_conf(cl, reports: Path, **overrides):
    # app_roles is not given: the fallback fences on C the roles the cutover fenced on A (A's fence marker).
    return chain_conf(cl, **{"action": "fallback", "dry_run": False, "gate_readings": 2,
                             "gate_interval_seconds": 0.2, "report_dir": str(reports), **overrides})


def report_of(reports: Path, action: str, dag_run) -> dict:
    from pgshift.common.report import safe_name

    return json.loads((reports / action / safe_name(dag_run.run_id) / "report.json").read_text())


def as_app(cl, node, query: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(cl.uri(node, user="app"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def wait_a_has_c(cl, timeout: float = 30) -> None:
    """A's subscription has confirmed everything C wrote so far."""
    target = sql(cl, cl.c, "SELECT pg_current_wal_lsn()::text")[0][0]
    wait_for(lambda: sql(cl, cl.c, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                                   "WHERE slot_name = %s", (target, SUB))[0][0], timeout, what="A confirming C")


def recorded_way_back() -> dict:
    from airflow.models import Variable

    from pgshift.migration.configuration import variable_key

    return json.loads(Variable.get(variable_key("hybrid_aurora_migration")))["fallback"]


def test_the_cutover_arms_the_way_back(clusters, chain):
    from pgshift.common.report import safe_name

    report = json.loads((chain.reports / "cutover" / safe_name(chain.cutover.run_id) / "report.json").read_text())
    assert report["fallback"]["armed"] is True
    assert (report["fallback"]["publication"], report["fallback"]["subscription"]) == (PUB, SUB)
    assert 0 < report["fallback"]["armed_seconds"] < report["write_downtime_seconds"]
    assert report["fallback"]["slot_before_fence"] is True  # native mode: the slot on C made before the fence
    timeline = list(report["timeline"])
    assert timeline.index("login_proven") < timeline.index("fallback_armed") < timeline.index("committed")
    assert sql(clusters, clusters.a, "SELECT subenabled, subslotname FROM pg_subscription WHERE subname = %s",
               (SUB,)) == [(True, SUB)]
    assert sql(clusters, clusters.c, "SELECT plugin FROM pg_replication_slots WHERE slot_name = %s", (SUB,)) == \
        [("pgoutput",)]
    # The migrated tables by name (not ALL TABLES: a table only C has would stop A's apply worker).
    assert sql(clusters, clusters.c, "SELECT puballtables FROM pg_publication WHERE pubname = %s", (PUB,)) == [(False,)]
    assert [r[0] for r in sql(clusters, clusters.c, "SELECT schemaname || '.' || tablename FROM pg_publication_tables "
                                                    "WHERE pubname = %s ORDER BY 1", (PUB,))] == \
        user_tables(clusters, clusters.a)
    assert recorded_way_back() == {"armed": True, "state": "armed"}
    # A stays fenced for the application, but the apply worker writes there: a row inserted on C reaches A and B.
    assert not app_can_log_in(clusters)
    (new_id,) = as_app(clusters, clusters.c, "INSERT INTO orders (customer, amount, note) VALUES (9, 9, 'armed') "
                                             "RETURNING id")[0]
    wait_for(lambda: sql(clusters, clusters.a, "SELECT count(*) FROM orders WHERE id = %s", (new_id,))[0][0] == 1,
             30, what="C's row on A")
    wait_for(lambda: sql(clusters, clusters.b, "SELECT count(*) FROM orders WHERE id = %s", (new_id,))[0][0] == 1,
             30, what="C's row on B")


def test_a_dry_run_fences_nothing(clusters, chain):
    with CaptureFds() as out:
        dag_run = run_dag(fallback_conf(clusters, chain.reports, dry_run=True))
    states = assert_run_succeeded(dag_run, out.text)
    assert states["record_fallback"] == "skipped"
    report = report_of(chain.reports, "fallback", dag_run)
    assert report["status"] == "dry run passed"
    assert all(t["status"] in ("equal", "moving") for t in report["tables"]), report["tables"]
    assert app_can_log_in(clusters, clusters.c) and not app_can_log_in(clusters, clusters.a)
    assert sql(clusters, clusters.a, "SELECT count(*) FROM pg_subscription WHERE subname = %s", (SUB,)) == [(1,)]


def test_role_app_holding_the_lease_key_on_c_does_not_block_a_fallback(clusters, chain):
    """Any role may take the lease's advisory key; only pgshift's role holds the lease: app's session is ended."""
    from pgshift.migration.switchover.lease import LEASE_KEY

    app = psycopg2.connect(clusters.uri(clusters.c, user="app"))
    try:
        app.autocommit = True
        with app.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", LEASE_KEY)
            assert cur.fetchone() == (True,)
        pid = app.get_backend_pid()
        with CaptureFds() as out:
            dag_run = run_dag(fallback_conf(clusters, chain.reports, dry_run=True))
    finally:
        app.close()
    assert_run_succeeded(dag_run, out.text)
    assert report_of(chain.reports, "fallback", dag_run)["status"] == "dry run passed"
    assert sql(clusters, clusters.c, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(0,)]
    assert app_can_log_in(clusters, clusters.c) and not app_can_log_in(clusters, clusters.a)


def test_a_failed_verify_lifts_cs_fence_and_leaves_a_fenced(clusters, chain):
    as_app(clusters, clusters.c, "INSERT INTO orders (customer, amount, note) SELECT 2, g, 'before the failed "
                                 "fallback' FROM generate_series(1, 20) g")
    wait_a_has_c(clusters)
    original = sql(clusters, clusters.c, "SELECT note FROM orders WHERE id = 5")[0][0]
    sql(clusters, clusters.a, "UPDATE orders SET note = 'changed on A behind the subscription' WHERE id = 5")
    try:
        with CaptureFds() as out:
            dag_run = run_dag(fallback_conf(clusters, chain.reports))
    finally:
        sql(clusters, clusters.a, "UPDATE orders SET note = %s WHERE id = 5", (original,))
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["fallback"] == "failed" and states["record_fallback"] == "upstream_failed"
    assert "Fallback failed after C's fence and was rolled back: C is unfenced (roles app can log in again), " \
           "A stays fenced" in out.text
    assert "parity mismatch C vs A in 1 table(s): public.orders" in out.text
    # One side writable, never both: C again, A still fenced.
    assert app_can_log_in(clusters, clusters.c) and not app_can_log_in(clusters, clusters.a)
    assert sql(clusters, clusters.c, "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON "
                                     "d.oid = s.setdatabase WHERE d.datname = %s", (DATABASE,)) == [(0,)]
    report = report_of(chain.reports, "fallback", dag_run)
    assert report["status"] == "rolled back"
    assert "parity mismatch C vs A" in report["error"]
    assert {"c_fenced", "a_drained", "c_unfenced"} <= set(report["timeline"])
    assert "verified" not in report["timeline"] and "a_unfenced" not in report["timeline"]
    # The way back is still armed.
    assert sql(clusters, clusters.a, "SELECT subenabled FROM pg_subscription WHERE subname = %s", (SUB,)) == [(True,)]
    assert recorded_way_back()["state"] == "armed"


def test_a_privilege_changed_on_c_since_the_cutover_fails_the_fallback(clusters, chain):
    """GRANT and REVOKE are not replicated: the fallback's privilege parity finds the difference and rolls back."""
    sql(clusters, clusters.c, "REVOKE DELETE ON pgbench_history FROM app")
    try:
        with CaptureFds() as out:
            dag_run = run_dag(fallback_conf(clusters, chain.reports))
    finally:
        sql(clusters, clusters.c, "GRANT DELETE ON pgbench_history TO app")
    assert task_states(dag_run)["fallback"] == "failed"
    assert "Fallback failed after C's fence and was rolled back" in out.text
    assert "privileges on A differ from C's" in out.text and "pgbench_history" in out.text
    assert app_can_log_in(clusters, clusters.c) and not app_can_log_in(clusters, clusters.a)
    assert report_of(chain.reports, "fallback", dag_run)["privilege_parity"]["ok"] is False


def test_an_interrupted_fallback_is_unfenced_by_its_retry(clusters, chain):
    """A worker that died after fencing C leaves C's fence record; the task's next try lifts C's fence."""
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.common.report import safe_name
    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.operators.fallback import FallbackOperator
    from pgshift.migration.switchover.fence import apply_fence, plan_fence

    run_id = "manual__interrupted_fallback"
    with WayBackHook("pgshift_c") as c:
        record = plan_fence(c, ["app"], run_id)
        apply_fence(c, record, ["app"])
        record.save(chain.reports / "fallback" / safe_name(run_id) / "fence_c.json")
    assert not app_can_log_in(clusters, clusters.c)
    op = FallbackOperator(task_id="fallback", config=chain_config(
        conn_c_subscription="pgshift_c_replication", fallback_publication_name=PUB, fallback_subscription_name=SUB,
        dry_run=False, report_dir=str(chain.reports)))
    with pytest.raises(AirflowFailException, match=r"died after fencing C at .*; this retry unfenced C .* A stays "
                                                   "fenced"):
        op.execute({"run_id": run_id, "dag": SimpleNamespace(dag_id="hybrid_aurora_migration")})
    assert app_can_log_in(clusters, clusters.c) and not app_can_log_in(clusters, clusters.a)


class WritesOnC:
    """The application on C as role ``app``: inserts into ``orders`` (its sequence advancing) until C's fence ends
    its session."""

    def __init__(self, cl) -> None:
        self.cl, self.acknowledged, self.errors = cl, [], []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = psycopg2.connect(self.cl.uri(self.cl.c, user="app"))
        try:
            with conn.cursor() as cur:
                while True:
                    cur.execute("INSERT INTO orders (customer, amount, note) VALUES (3, 3, 'during fallback') "
                                "RETURNING id")
                    (new_id,) = cur.fetchone()
                    conn.commit()
                    self.acknowledged.append(new_id)
        except psycopg2.Error as exc:  # C's fence terminates this session
            self.errors.append(str(exc))

    def finish(self) -> None:
        self._thread.join(60)


def test_fallback_brings_every_write_on_c_back_to_a(clusters, chain):
    c, a = clusters.c, clusters.a
    as_app(clusters, c, "INSERT INTO orders (customer, amount, note) SELECT 4, g, 'inserted on C' "
                        "FROM generate_series(1, 50) g")
    as_app(clusters, c, "UPDATE orders SET note = 'updated on C' WHERE id BETWEEN 10 AND 19")
    as_app(clusters, c, "DELETE FROM orders WHERE id BETWEEN 30 AND 34")
    as_app(clusters, c, "UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid <= 100")
    writer = WritesOnC(clusters)
    wait_for(lambda: len(writer.acknowledged) > 20, 30, what="application writes on C")
    with CaptureFds() as out:
        dag_run = run_dag(fallback_conf(clusters, chain.reports))
    writer.finish()
    states = assert_run_succeeded(dag_run, out.text)
    assert states["record_fallback"] == "success"
    # C's fence ended the application's session (the error depends on where the client was when it came).
    assert any(m in " ".join(writer.errors) for m in ("terminating connection due to administrator command",
                                                      "server closed the connection unexpectedly")), writer.errors
    # A holds every row written on C: every table equal, every acknowledged insert there.
    for table in user_tables(clusters, a):
        assert fingerprint(clusters, a, table) == fingerprint(clusters, c, table), table
    assert sql(clusters, a, "SELECT count(*) FROM orders WHERE id = ANY(%s)", (writer.acknowledged,)) == \
        [(len(writer.acknowledged),)]
    assert sql(clusters, a, "SELECT count(*) FROM orders WHERE note = 'updated on C'") == [(10,)]
    assert sql(clusters, a, "SELECT count(*) FROM orders WHERE id BETWEEN 30 AND 34") == [(0,)]
    # C is fenced; the application logs in to A again and A's sequence continues after C's.
    assert not app_can_log_in(clusters, c) and app_can_log_in(clusters, a)
    (last_on_c,) = sql(clusters, c, "SELECT last_value FROM orders_id_seq")[0]
    (new_id,) = as_app(clusters, a, "INSERT INTO orders (customer, amount, note) VALUES (5, 5, 'back on A') "
                                    "RETURNING id")[0]
    assert new_id == last_on_c + 1
    # B follows A physically: it has A's rows too, the one written after the fallback included.
    lsn = sql(clusters, a, "SELECT pg_current_wal_lsn()::text")[0][0]
    wait_for(lambda: sql(clusters, clusters.b, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0], 30,
             what="B replaying A")
    assert fingerprint(clusters, clusters.b, "public.orders") == fingerprint(clusters, a, "public.orders")
    # The reverse replication is gone; A is read-write again.
    assert sql(clusters, a, "SELECT count(*) FROM pg_subscription") == [(0,)]
    assert sql(clusters, c, "SELECT count(*) FROM pg_replication_slots") == [(0,)]
    assert sql(clusters, c, "SELECT count(*) FROM pg_publication") == [(0,)]
    conn = psycopg2.connect(clusters.uri(a))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW default_transaction_read_only")
            assert cur.fetchone() == ("off",)
    finally:
        conn.close()
    report = report_of(chain.reports, "fallback", dag_run)
    assert report["status"] == "fallen back"
    assert list(report["timeline"]) == ["c_fenced", "c_sessions_ended", "c_final_lsn_taken", "a_drained", "verified",
                                        "access_verified", "sequences_set", "reverse_dropped", "committed",
                                        "a_unfenced", "ready"]
    assert report["privilege_parity"]["ok"] and report["privilege_parity"]["checked"]["app"] > 0
    assert 0 < report["write_downtime_seconds"] < 60
    assert any(s["sequence"] == "public.orders_id_seq" and s["action"] == "set" for s in report["sequences"])
    assert "write downtime" in out.text
    assert secrets_in(out.text, clusters) == []
    assert recorded_way_back()["state"] == "fallen back"


def test_finish_leaves_nothing_of_pgshifts_replication(clusters, tmp_path):
    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.switchover.lease import take_lease

    set_up_chain(clusters)
    # The cutover's dry run proves the way back can be armed: a publication of its name on C fails it.
    sql(clusters, clusters.c, f"CREATE PUBLICATION {PUB} FOR TABLE orders")
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(clusters, action="cutover", app_roles=["app"], gate_readings=2,
                                     gate_interval_seconds=0.2, report_dir=str(tmp_path)))
    sql(clusters, clusters.c, f"DROP PUBLICATION {PUB}")
    assert task_states(dag_run)["cutover"] == "failed"
    assert f"the way back could not be armed: publication {PUB} on C exists already" in out.text
    # What an attempt killed before its commit leaves (its marked publication, an idle slot): the next one drops it.
    from pgshift.migration.switchover.cutover.fallback_phases import WAY_BACK_MARK

    sql(clusters, clusters.c, f"CREATE PUBLICATION {PUB} FOR TABLE orders")
    sql(clusters, clusters.c, f"COMMENT ON PUBLICATION {PUB} IS %s", (WAY_BACK_MARK,))
    sql(clusters, clusters.c, "SELECT 1 FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (SUB,))
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(clusters, action="cutover", app_roles=["app"], dry_run=False, gate_readings=2,
                                     gate_interval_seconds=0.2, report_dir=str(tmp_path)))
    assert_run_succeeded(dag_run, out.text)
    assert f"Dropped the way back's publication {PUB}, slot {SUB} on C, left by an earlier attempt" in out.text
    assert sorted(r[0] for r in sql(clusters, clusters.c, "SELECT tablename FROM pg_publication_tables WHERE "
                                                          "pubname = %s", (PUB,))) == \
        sorted(t.split(".")[1] for t in user_tables(clusters, clusters.a))  # made anew: every migrated table
    conf = chain_conf(clusters, action="finish", report_dir=str(tmp_path))
    # Refused while a fallback is under way (it holds the lease on C).
    with WayBackHook("pgshift_c") as c:
        assert take_lease(c)
        with CaptureFds() as out:
            dag_run = run_dag({**conf, "dry_run": False})
    assert task_states(dag_run)["finish"] == "failed"
    assert "Finish refused: a fallback is under way" in out.text
    # The dry run names what it would drop and drops nothing.
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    assert_run_succeeded(dag_run, out.text)
    would = report_of(tmp_path, "finish", dag_run)["would_drop"]
    assert would == [f"subscription {SUB} on A (and its slot on C)", f"slot {SUB} on C", f"publication {PUB} on C",
                     "publication pgshift_pub on A", "physical slot pgshift_b_physical on A (B's)"]
    assert sql(clusters, clusters.a, "SELECT count(*) FROM pg_subscription") == [(1,)]
    with CaptureFds() as out:
        dag_run = run_dag({**conf, "dry_run": False})
    states = assert_run_succeeded(dag_run, out.text)
    assert states["record_finish"] == "success"
    for node in (clusters.a, clusters.b, clusters.c):
        assert sql(clusters, node, "SELECT count(*) FROM pg_replication_slots") == [(0,)], node.name
        assert sql(clusters, node, "SELECT count(*) FROM pg_subscription") == [(0,)], node.name
        assert sql(clusters, node, "SELECT count(*) FROM pg_publication") == [(0,)], node.name
    # A stays fenced; the application stays on C.
    assert not app_can_log_in(clusters, clusters.a) and app_can_log_in(clusters, clusters.c)
    assert recorded_way_back()["state"] == "finished"


def test_a_fallback_or_finish_of_the_recorded_chain_needs_the_way_back_armed() -> None:
    """Without conf overrides, fallback and finish check the record: cut over, way back armed, not taken yet."""
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.migration.configuration import (
        RECORDED_KEYS,
        check_chain,
        marked_cut_over,
        marked_way_back,
        merge,
        new_record,
    )

    values = {k: None for k in RECORDED_KEYS} | {"fallback": True}
    record = new_record("d", values, "setup")

    def check(rec: dict, action: str = "fallback") -> None:
        check_chain(merge("d", action, {}, rec, {}), action)

    with pytest.raises(AirflowFailException, match="no cutover to fallback after"):
        check(record)
    cut = marked_cut_over("d", record, values, "cutover_run")
    assert cut["fallback"] == {"armed": True, "state": "armed"}
    check(cut)
    check(cut, "finish")
    unarmed = marked_cut_over("d", record, values | {"fallback": False}, "r")
    with pytest.raises(AirflowFailException, match="did not arm the way back"):
        check(unarmed)
    check(unarmed, "finish")  # B's leftovers are still to drop
    fell = marked_way_back(cut, "fallen back", "fallback_run")
    with pytest.raises(AirflowFailException, match=r"the way back is fallen back already \(at .* by run fallback_run"):
        check(fell, "finish")
