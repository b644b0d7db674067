"""A lost, B promoted: what PostgreSQL does with the chain B -> C (issue 24), proved on the project's servers.

Facts established here (PostgreSQL 18.6, the project's build; logical decoding on a standby exists from 16):

- A logical slot created on the hot standby B lives in B's own data directory and survives ``pg_promote()``:
  after the promotion it is still there, not ``conflicting``, same plugin, its ``confirmed_flush_lsn`` where C
  left it (then moving on: C confirms B's end-of-recovery record).
- C's subscription, whose apply worker streamed from that slot, goes on from the promoted B without any change on
  C: its walsender on B ends at the promotion, the apply worker reconnects (same connection string, same slot) and
  rows written on B after the promotion reach C.
- Nothing B had replayed before A was stopped is missing on C: every row B holds when it is promoted is on C.
  What is gone is what A wrote and B had not received (``pg_current_wal_lsn()`` on A minus
  ``pg_last_wal_receive_lsn()`` on B, in bytes; unknown when A cannot be asked).
- With ``synchronous_standby`` (set at the trio's setup), B is A's synchronous standby: every row whose commit A
  acknowledged before it was stopped is on C after ``promote_b``. With B gone, the guard
  (:mod:`pgshift.migration.sync.guard`) makes A asynchronous after ``synchronous_fallback_seconds`` and synchronous
  again once B is back.

The module starts its own A, B and C (the session's B must not be promoted) and removes them at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from chain_helpers import NAMES, app_can_log_in, chain_conf, run_dag, sql, task_states, wait_c_caught_up
from pgcluster import LocalClusters
from testing_support import CaptureFds, assert_run_succeeded, free_port_block, state_dir, wait_for

FALLBACK_SECONDS = 2  # synchronous_fallback_seconds of the trio
TABLE = "CREATE TABLE events (id bigserial PRIMARY KEY, source text NOT NULL, at timestamptz DEFAULT now())"


@pytest.fixture(scope="module")
def trio() -> Iterator[LocalClusters]:
    """A private A, B and C with the chain set up by the DAG (native mode, B A's synchronous standby), the
    connections pointing at them for the module and back at the session's clusters afterwards."""
    cl = LocalClusters(state_dir("promote-b"), free_port_block())
    saved = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    try:
        cl.start()
        sql(cl, cl.a, TABLE)
        sql(cl, cl.a, "INSERT INTO events (source) SELECT 'seed' FROM generate_series(1, 200)")
        os.environ.update(cl.airflow_connections())
        with CaptureFds() as out:
            dag_run = run_dag(chain_conf(cl, synchronous_standby=True, synchronous_fallback_seconds=FALLBACK_SECONDS))
        assert_run_succeeded(dag_run, out.text)
        wait_c_caught_up(cl)
        yield cl
    finally:
        from airflow.models import Variable

        from pgshift.migration.sync.settings import variable_key

        Variable.delete(variable_key("hybrid_aurora_migration"))  # the trio's: no other module's finish restores it
        for key in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
            del os.environ[key]
        os.environ.update(saved)
        cl.destroy()


class Writer:
    """Inserts rows on A, one transaction each, until A goes away or the block ends; keeps the ids of the rows whose
    commit A acknowledged."""

    def __init__(self, cl: LocalClusters) -> None:
        self.cl, self.acknowledged = cl, list[int]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def written(self) -> int:
        return len(self.acknowledged)

    def _run(self) -> None:
        try:
            conn = psycopg2.connect(self.cl.uri(self.cl.a))
            conn.autocommit = True
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute("INSERT INTO events (source) VALUES ('a') RETURNING id")
                    self.acknowledged.append(cur.fetchone()[0])
        except psycopg2.Error:
            return  # A stopped

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def ids(cl: LocalClusters, node: Any) -> set[int]:
    return {r[0] for r in sql(cl, node, "SELECT id FROM events")}


def slot_row(cl: LocalClusters) -> tuple[Any, ...]:
    return sql(cl, cl.b, "SELECT plugin, slot_type, conflicting, confirmed_flush_lsn::text FROM pg_replication_slots "
                         "WHERE slot_name = %s", (NAMES["slot"],))[0]


def recorded() -> dict[str, Any]:
    from airflow.models import Variable

    from pgshift.migration.configuration import variable_key

    return json.loads(Variable.get(variable_key("hybrid_aurora_migration")))


def promote(**conf: Any) -> tuple[Any, str]:
    """A run of action=promote_b on the recorded chain: (the run, its log)."""
    with CaptureFds() as out:
        dag_run = run_dag({"action": "promote_b", **conf})
    return dag_run, out.text


def promotion_xcom(dag_run: Any) -> dict[str, Any]:
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "promote_b"]
    return ti.xcom_pull(task_ids="promote_b")


def test_refused_while_a_answers_without_confirmation(trio: LocalClusters) -> None:
    cl = trio
    dag_run, log = promote()
    assert task_states(dag_run)["promote_b"] == "failed"
    assert "A answers (conn pgshift_a, at WAL" in log
    assert "trigger promote_b again with confirm_promote_b true; nothing was changed" in log
    assert sql(cl, cl.b, "SELECT pg_is_in_recovery()")[0][0] is True
    assert "source" not in recorded()


def synchronous_names(cl: LocalClusters) -> str:
    return sql(cl, cl.a, "SELECT current_setting('synchronous_standby_names')")[0][0]


def guard_until_it_acts(cl: LocalClusters, timeout: float) -> dict[str, Any]:
    """The guard's watch (what its trigger runs in the triggerer) on the trio's A, with the settings the setup
    recorded, until it changes A."""
    from airflow.models import Variable

    from pgshift.migration.sync.guard import Guard
    from pgshift.migration.sync.settings import SyncSettings, variable_key
    from pgshift.migration.triggers.sync_guard import watch

    settings = SyncSettings.from_json(Variable.get(variable_key("hybrid_aurora_migration")))
    return asyncio.run(watch(lambda: settings, Guard(), time.time() + timeout, poll_interval=0.2))


def test_synchronous_guard_falls_back_when_b_is_gone_and_back_when_b_returns(trio: LocalClusters) -> None:
    """B stopped under writes: A's commits wait, then the guard makes A asynchronous within about
    synchronous_fallback_seconds and they go on; B started again: the guard names B again once it caught up."""
    cl = trio
    assert synchronous_names(cl) == '"pgshift_b"'  # the name pgshift's basebackup gives B's WAL receiver
    assert sql(cl, cl.a, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pgshift_b'") == [
        ("sync",)]
    cl.stop_node(cl.b)
    try:
        with Writer(cl) as writer:
            stopped = time.monotonic()
            event = guard_until_it_acts(cl, 30)
            released = time.monotonic() - stopped
            before = writer.written
            wait_for(lambda: writer.written > before + 20, 10, what="A's commits going on once asynchronous")
        assert event["status"] == "release", event
        assert "has no walsender on A" in event["reason"] and "asynchronous now" in event["reason"], event
        assert FALLBACK_SECONDS <= released < FALLBACK_SECONDS + 5, released
        assert synchronous_names(cl) == ""
    finally:
        cl.start_node(cl.b)
    event = guard_until_it_acts(cl, 60)
    assert event["status"] == "restore" and "B streams again" in event["reason"], event
    wait_for(lambda: synchronous_names(cl) == '"pgshift_b"', 5, what="A naming B again")
    wait_for(lambda: sql(cl, cl.a, "SELECT sync_state FROM pg_stat_replication WHERE application_name = "
                                   "'pgshift_b'") == [("sync",)], 10, what="B synchronous again")
    wait_c_caught_up(cl)


def test_a_lost_under_writes_then_promote_b_and_c_goes_on_from_b(trio: LocalClusters) -> None:
    cl = trio
    assert synchronous_names(cl) == '"pgshift_b"'
    with Writer(cl) as writer:
        wait_for(lambda: writer.written >= 300, 30, what="the writer on A")
        cl.stop_node(cl.a, mode="immediate")  # A lost under writes
    received = sql(cl, cl.b, "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text")[0]
    on_b = ids(cl, cl.b)
    assert len(on_b) > 200  # B had replayed some of A's writes: the rows that must not be lost
    before = slot_row(cl)

    dag_run, log = promote()
    assert_run_succeeded(dag_run, log)
    report = promotion_xcom(dag_run)
    assert report["a_reachable"] is False and report["a_error"] and report["lost_bytes"] is None
    assert sql(cl, cl.b, "SELECT %s::pg_lsn >= %s::pg_lsn", (report["b_received_lsn"], received[0]))[0][0]
    assert "how much of A's WAL B had not received is unknown; B had received up to" in log
    assert sql(cl, cl.b, "SELECT pg_is_in_recovery()")[0][0] is False
    after = slot_row(cl)
    assert after[:3] == ("pgoutput", "logical", False), after
    # Never behind what C had confirmed (it moves on past B's end-of-recovery record as C confirms it).
    assert sql(cl, cl.b, "SELECT %s::pg_lsn >= %s::pg_lsn", (after[3], before[3]))[0][0], (before, after)
    assert report["databases"][""]["slot"] == NAMES["slot"]
    assert sql(cl, cl.b, "SELECT %s::pg_lsn >= %s::pg_lsn", (after[3], report["b_lsn_after"]))[0][0]
    record = recorded()
    assert record["source"] == "b"
    assert record["promote_b"]["b_received_lsn"] == report["b_received_lsn"]
    assert record["promote_b"]["lost_bytes"] is None

    assert on_b <= ids(cl, cl.c)  # nothing B had replayed is missing on C
    sql(cl, cl.b, "INSERT INTO events (source) SELECT 'b' FROM generate_series(1, 50)")
    on_b_now = ids(cl, cl.b)
    wait_for(lambda: ids(cl, cl.c) >= on_b_now, 60, what="C receiving B's rows written after the promotion")
    assert sql(cl, cl.c, "SELECT count(*) FROM events WHERE source = 'b'")[0][0] == 50
    # synchronous_standby: every row whose commit A acknowledged before it was lost is on C
    assert set(writer.acknowledged) <= ids(cl, cl.c), len(set(writer.acknowledged) - ids(cl, cl.c))
    assert sql(cl, cl.c, "SELECT count(*) FROM pg_stat_subscription WHERE subname = %s AND pid IS NOT NULL",
               (NAMES["subscription"],))[0][0] == 1


def test_retry_says_b_was_promoted_and_checks_again(trio: LocalClusters) -> None:
    first = recorded()["promote_b"]
    dag_run, log = promote()
    assert_run_succeeded(dag_run, log)
    report = promotion_xcom(dag_run)
    assert report["already_promoted"] is True and report["databases"][""]["slot"] == NAMES["slot"]
    assert "it was promoted already (a retry); going on with the checks" in log
    assert recorded()["promote_b"] == first  # the first promotion's figures are kept


def test_validation_after_promote_b_checks_b_to_c(trio: LocalClusters) -> None:
    """B is the source now: A (stopped) and A -> B are skipped and said so; B -> C, parity and access are checked."""
    cl = trio
    sql(cl, cl.b, "INSERT INTO events (source) SELECT 'b2' FROM generate_series(1, 20)")
    with CaptureFds() as out:
        dag_run = run_dag({"action": "validate", "parity": "full"})
    assert_run_succeeded(dag_run, out.text)
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "validate"]
    report = json.loads(open(ti.xcom_pull(task_ids="validate")["report"]).read())
    assert report["direction"] == "B -> C (B promoted, A lost)"
    assert any("A and A -> B are not checked" in n for n in report["notes"]), report["notes"]
    assert any("parity=full freezes B's replay of A, and B was promoted: sampled instead" in n
               for n in report["notes"])
    assert "a_to_b_lag_bytes" not in report["figures"]
    assert report["figures"]["b_to_c_lag_bytes"] is not None and report["figures"]["slot_active"] is True
    (events,) = report["parity"]
    assert (events["table"], events["status"], events["missing_on_c"]) == ("public.events", "equal", 0), events


class AppWrites:
    """The application as role ``app`` on ``node``: inserts into ``events`` until a fence ends its session."""

    def __init__(self, cl: LocalClusters, node: Any, source: str) -> None:
        self.cl, self.node, self.source = cl, node, source
        self.acknowledged: list[int] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = psycopg2.connect(self.cl.uri(self.node, user="app"))
            with conn.cursor() as cur:
                while True:
                    cur.execute("INSERT INTO events (source) VALUES (%s) RETURNING id", (self.source,))
                    (new_id,) = cur.fetchone()
                    conn.commit()
                    self.acknowledged.append(new_id)
        except psycopg2.Error as exc:  # the fence terminates this session
            self.errors.append(str(exc))

    def finish(self) -> None:
        self._thread.join(60)


def table_on(cl: LocalClusters, node: Any) -> tuple[Any, ...]:
    return sql(cl, node, "SELECT count(*), coalesce(sum(hashtextextended(e::text, 0)), 0)::text FROM events e")[0]


def report_of(dag_run: Any, task_id: str) -> dict[str, Any]:
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return json.loads(open(ti.xcom_pull(task_ids=task_id)["report"]).read())


SWITCH = {"dry_run": False, "app_roles": ["app"], "gate_readings": 2, "gate_interval_seconds": 0.2}


def test_cutover_from_b_fences_b_and_c_has_every_row(trio: LocalClusters) -> None:
    """B is the source: the cutover fences B (A is gone), drains B's own WAL and hashes every table on B and C
    inside the fence (verify=full: a promoted B has no replay of A to freeze); the application goes on on C."""
    cl = trio
    sql(cl, cl.b, "GRANT SELECT, INSERT ON events TO app; GRANT USAGE ON SEQUENCE events_id_seq TO app")
    writer = AppWrites(cl, cl.b, "app on b")
    wait_for(lambda: len(writer.acknowledged) > 20, 30, what="the application writing on B")
    with CaptureFds() as out:
        dag_run = run_dag({"action": "cutover", **SWITCH})
    writer.finish()
    assert_run_succeeded(dag_run, out.text)
    assert writer.errors, "the fence ended the application's session on B"
    report = report_of(dag_run, "cutover")
    assert report["status"] == "ready" and report["verify"]["method"] == "full", report["verify"]
    assert "a_to_b" not in report["gate"] and report["gate"]["b_to_c"]["ok"] is True, report["gate"]
    (events,) = report["tables"]
    assert (events["table"], events["status"]) == ("public.events", "equal"), events
    # Every row B holds is on C, every insert B acknowledged among them; B is fenced, the application is on C.
    assert table_on(cl, cl.c) == table_on(cl, cl.b)
    assert sql(cl, cl.c, "SELECT count(*) FROM events WHERE id = ANY(%s)", (writer.acknowledged,))[0][0] == \
        len(writer.acknowledged)
    assert not app_can_log_in(cl, cl.b) and app_can_log_in(cl, cl.c)
    assert sql(cl, cl.b, "SELECT setting FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                         "CROSS JOIN unnest(s.setconfig) setting WHERE d.datname = current_database() AND "
                         "setting LIKE 'default_transaction_read_only%%'") == [("default_transaction_read_only=on",)]
    assert sql(cl, cl.c, "SELECT count(*) FROM pg_subscription WHERE subname = %s", (NAMES["subscription"],)) == [(0,)]
    assert recorded()["cut_over"]["by_run"] == dag_run.run_id and recorded()["source"] == "b"


def test_finish_would_drop_the_way_back_on_b(trio: LocalClusters) -> None:
    """finish (its dry run: the next test takes the way back) names what it would drop on B, A's stand-in."""
    with CaptureFds() as out:
        dag_run = run_dag({"action": "finish", "dry_run": True})
    assert_run_succeeded(dag_run, out.text)
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "finish"]
    result = ti.xcom_pull(task_ids="finish")
    assert result["problems"] == [] and result["dropped"] == []
    on_b = [w for w in result["would_drop"] if " on B" in w]
    assert any(w.startswith("subscription ") for w in on_b) and any(w.startswith("publication ") for w in on_b), \
        result["would_drop"]
    assert not any(" on A" in w for w in result["would_drop"]), result["would_drop"]
    assert "what this task's messages call A is B" in out.text


def test_the_way_back_returns_to_b_with_every_write_on_c(trio: LocalClusters) -> None:
    cl = trio
    writer = AppWrites(cl, cl.c, "app on c")
    wait_for(lambda: len(writer.acknowledged) > 20, 30, what="the application writing on C")
    with CaptureFds() as out:
        dag_run = run_dag({"action": "fallback", **SWITCH})
    writer.finish()
    assert_run_succeeded(dag_run, out.text)
    assert report_of(dag_run, "fallback")["status"] == "fallen back"
    assert table_on(cl, cl.b) == table_on(cl, cl.c)
    assert sql(cl, cl.b, "SELECT count(*) FROM events WHERE id = ANY(%s)", (writer.acknowledged,))[0][0] == \
        len(writer.acknowledged)
    # B is the primary again, for the application too; C is fenced.
    assert app_can_log_in(cl, cl.b) and not app_can_log_in(cl, cl.c)
    assert sql(cl, cl.b, "SELECT count(*) FROM pg_subscription") == [(0,)]
    (new_id,) = sql(cl, cl.b, "INSERT INTO events (source) VALUES ('back on b') RETURNING id")[0]
    assert new_id > max(writer.acknowledged)
    assert recorded()["fallback"]["state"] == "fallen back"
