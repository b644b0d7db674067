"""initial_copy=parallel (issue 25): C's first copy from B frozen at L, in block ranges by several sessions, verified
B against C at L, the slot moved to L, the indexes built after the data; then the subscription streams from L.

The claim tested: under writes on A all through the setup, no change is lost or applied twice — once C has caught up,
every table is equal on A and C (count and content hash, computed here, not by pgshift), a table without a primary
key (REPLICA IDENTITY FULL: a change applied twice would show as a row too many) and a partitioned table included.
The session's clusters are used; the module's own tables are dropped at its end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from chain_helpers import chain_conf, run_dag, sql, task_states, user_tables, wait_c_caught_up
from pgcluster import LocalClusters
from testing_support import CaptureFds, assert_run_succeeded, wait_for

EXTRA = ("copy_nopk", "copy_parts", "copy_toast")
TABLES = """
CREATE TABLE copy_nopk (n bigint, label text);
ALTER TABLE copy_nopk REPLICA IDENTITY FULL;
CREATE TABLE copy_parts (id bigint NOT NULL, at date NOT NULL, amount numeric, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE copy_parts_2025 PARTITION OF copy_parts FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE copy_parts_2026 PARTITION OF copy_parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE copy_toast (id bigserial PRIMARY KEY, doc text, tags text[], total numeric GENERATED ALWAYS AS
    (length(doc)) STORED);
CREATE INDEX copy_toast_total ON copy_toast (total);
INSERT INTO copy_nopk SELECT g, 'seed ' || g FROM generate_series(1, 20000) g;
INSERT INTO copy_nopk SELECT 7, 'duplicate' FROM generate_series(1, 5);
INSERT INTO copy_parts SELECT g, date '2025-01-01' + (g % 700), g * 1.5 FROM generate_series(1, 30000) g;
INSERT INTO copy_toast (doc, tags) SELECT repeat(md5(g::text), 400), ARRAY['a', g::text]
    FROM generate_series(1, 300) g;
"""


@pytest.fixture(scope="module")
def extra_tables(clusters: LocalClusters) -> Iterator[LocalClusters]:
    cl = clusters
    cl.reset_chain()
    sql(cl, cl.a, TABLES)
    sql(cl, cl.a, "ANALYZE")
    yield cl
    cl.reset_chain()
    sql(cl, cl.a, "DROP TABLE IF EXISTS " + ", ".join(EXTRA))


class Writes:
    """Inserts, updates and deletes on A in several tables, one transaction each, until stopped."""

    def __init__(self, cl: LocalClusters) -> None:
        self.cl, self.done, self.errors = cl, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = psycopg2.connect(self.cl.uri(self.cl.a))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                i = 0
                while not self._stop.is_set():
                    i += 1
                    cur.execute("INSERT INTO copy_nopk VALUES (%s, 'live')", (100000 + i,))
                    cur.execute("UPDATE copy_nopk SET label = 'updated' WHERE n = %s", (i % 20000 + 1,))
                    cur.execute("INSERT INTO copy_parts VALUES (%s, date '2026-03-01', 1)", (100000 + i,))
                    cur.execute("DELETE FROM copy_parts WHERE id = %s", (i,))
                    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = %s", (i % 1000 + 1,))
                    cur.execute("INSERT INTO orders (customer, amount, note) VALUES (1, %s, 'during copy')", (i,))
                    self.done += 1
        except psycopg2.Error as exc:
            self.errors.append(str(exc))
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def table_fingerprint(cl: LocalClusters, node: Any, table: str) -> tuple[Any, ...]:
    return sql(cl, node, f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {table} t")[0]


def test_parallel_copy_under_writes_loses_nothing_and_applies_nothing_twice(extra_tables: LocalClusters) -> None:
    cl = extra_tables
    writes = Writes(cl)
    try:
        wait_for(lambda: writes.done > 20, 30, what="writes on A")
        with CaptureFds() as out:
            dag_run = run_dag(chain_conf(cl, initial_copy="parallel", copy_workers=3))
        during = writes.done
        wait_for(lambda: writes.done > during + 50, 30, what="writes on A after the setup")
    finally:
        writes.stop()
    assert writes.errors == []
    assert_run_succeeded(dag_run, out.text)
    assert task_states(dag_run)["initial_copy"] == "success"
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "initial_copy"]
    result = ti.xcom_pull(task_ids="initial_copy")
    assert result["copied"] is True
    report = json.loads(open(result["report"]).read())
    # Every table (each partition) verified equal on B and C at L, before the slot moved and anything streamed.
    verified = {r["table"]: r["status"] for r in report["verified"][""]}
    assert set(verified.values()) == {"equal"} and {"public.copy_nopk", "public.copy_parts",
                                                   "public.copy_toast"} <= set(verified), verified
    copied = {t["table"] for t in report["copy"]["tables"]}
    assert {"public.copy_parts_2025", "public.copy_parts_2026", "public.pgbench_accounts"} <= copied, copied
    assert report["ranges"] >= len(copied) and report["workers"] == 3
    assert "rows, " in out.text and "MB/s, ETA" in out.text  # the figures as it goes
    assert "copy_data = false: the parallel initial copy put the rows there" in out.text
    assert sql(cl, cl.c, "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") == [(0,)]
    # The indexes and constraints were built after the data: C's are B's (the primary keys, the plain index).
    assert sql(cl, cl.c, "SELECT indexname FROM pg_indexes WHERE tablename = 'copy_toast' ORDER BY 1") == \
        [("copy_toast_pkey",), ("copy_toast_total",)]

    wait_c_caught_up(cl)
    for table in user_tables(cl, cl.a):
        assert table_fingerprint(cl, cl.c, table) == table_fingerprint(cl, cl.a, table), table
    assert sql(cl, cl.c, "SELECT count(*) FROM copy_nopk WHERE n = 7") == [(6,)]  # the duplicates, each once
    assert sql(cl, cl.c, "SELECT count(*) FROM orders WHERE note = 'during copy'")[0][0] == writes.done


def test_killed_mid_copy_resumes_b_and_the_next_attempt_starts_cleanly(extra_tables: LocalClusters) -> None:
    """The chain's subscription dropped (its slot kept on B): the copy runs again over C's full tables. Killed while
    B is frozen (C's table locked holds it there), it resumes B at once; the next attempt empties C's tables, copies
    again, tolerates the indexes an attempt made already, and the subscription then streams from L."""
    from chain_helpers import NAMES, chain_config

    from pgshift.migration.operators.initial_copy import InitialCopyOperator
    from pgshift.migration.operators.subscription import CreateSubscriptionOperator

    cl = extra_tables
    for statement in ("ALTER SUBSCRIPTION {} DISABLE", "ALTER SUBSCRIPTION {} SET (slot_name = NONE)",
                      "DROP SUBSCRIPTION {}"):
        sql(cl, cl.c, statement.format(NAMES["subscription"]))
    sql(cl, cl.a, "INSERT INTO copy_nopk SELECT g, 'before the retry' FROM generate_series(1, 100) g")
    config = chain_config(cl, initial_copy="parallel", copy_workers=2)
    context = {"run_id": "manual__copy_retry"}
    killed = InitialCopyOperator(task_id="initial_copy", config=config)
    failures: list[BaseException] = []

    def attempt() -> None:
        try:
            killed.execute(context)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    lock = psycopg2.connect(cl.uri(cl.c))
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE copy_toast IN ACCESS EXCLUSIVE MODE")  # the attempt waits on C, B frozen
        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        wait_for(lambda: killed.active is not None and killed.active.holding_replay, 30, what="B frozen by the copy")
        assert sql(cl, cl.b, "SELECT pg_get_wal_replay_pause_state()") == [("paused",)]
        killed.on_kill()
        assert sql(cl, cl.b, "SELECT pg_get_wal_replay_pause_state()") == [("not paused",)]
    finally:
        lock.rollback()
        lock.close()
    thread.join(60)
    assert failures and "the copy was stopped" in str(failures[0]), failures
    assert sql(cl, cl.c, "SELECT count(*) FROM pg_subscription") == [(0,)]

    result = InitialCopyOperator(task_id="initial_copy", config=config).execute(context)  # type: ignore[arg-type]
    assert result["copied"] is True
    report = json.loads(open(result["report"]).read())
    assert {r["status"] for r in report["verified"][""]} == {"equal"}
    CreateSubscriptionOperator(task_id="create_subscription", config=config).execute(context)  # type: ignore[arg-type]
    sql(cl, cl.a, "INSERT INTO copy_nopk SELECT g, 'after the retry' FROM generate_series(1, 100) g")
    wait_c_caught_up(cl)
    for table in user_tables(cl, cl.a):
        assert table_fingerprint(cl, cl.c, table) == table_fingerprint(cl, cl.a, table), table
