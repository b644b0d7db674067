"""The fallback of a chain of three databases on real servers (issue 23): after a cutover of the three with the way
back armed in each, the application writes on C in every database; a dry run fences nothing; a failure in one
database's verification rolls all three back (C unfenced everywhere, A still fenced, every reverse subscription
still there), as does the retry of an attempt that died fenced; the fallback brings every database back to A in one
fence of C; ``finish`` after a fresh cutover of the three leaves nothing of pgshift's replication in any database
of A, B or C.

The chain is the cutover test's (:func:`test_several_databases_cutover.build_three`); every comparison here is the
test's own (count and content hash per table), independent of pgshift's verify.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import pytest
from chain_helpers import CaptureFds, chain_conf, chain_config, run_dag, sql, task_states, wait_for
from pgcluster import DATABASE
from test_several_databases_cutover import (
    DATABASES,
    _app_writes,
    _conf,
    _context,
    _fingerprints,
    _run_cutover,
    _tables,
    build_three,
    drop_three,
)
from testing_support import assert_run_succeeded


def _unfence_c(cl) -> None:
    """Undo a fallback's fence of C by hand (the extra databases are dropped by :func:`drop_three`)."""
    sql(cl, cl.c, "ALTER ROLE app LOGIN")
    sql(cl, cl.c, f"ALTER DATABASE {DATABASE} RESET default_transaction_read_only")
    sql(cl, cl.c, f"ALTER DATABASE {DATABASE} RESET pgshift.fence")


def _cut_over(cl, reports: Path) -> None:
    dag_run, text = _run_cutover(cl, reports)
    assert_run_succeeded(dag_run, text)


@pytest.fixture(scope="module")
def chain(clusters, tmp_path_factory):
    """Three databases cut over to C, the way back armed in each."""
    cl = clusters
    reports = tmp_path_factory.mktemp("reports")
    three = build_three(cl, reports)
    _cut_over(cl, reports)
    yield SimpleNamespace(chain=three, reports=reports)
    _unfence_c(cl)
    drop_three(cl)


def _read_only_on_c(cl, db: str) -> bool:
    rows = sql(cl, cl.c, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                         "WHERE d.datname = %s AND s.setrole = 0", (db,))
    return any("default_transaction_read_only=on" in setting for (config,) in rows for setting in config or [])


def _reverse_subscriptions(cl) -> dict[str, bool]:
    return {f"{db}:{name}": enabled for db, name, enabled in sql(
        cl, cl.a, "SELECT d.datname, s.subname, s.subenabled FROM pg_subscription s "
                  "JOIN pg_database d ON d.oid = s.subdbid ORDER BY 1, 2")}


def _as_app_on_c(cl, db: str, query: str) -> None:
    conn = psycopg2.connect(cl.uri(cl.c, user="app", db=db))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query)
    finally:
        conn.close()


def _write_on_c(cl, db: str, note: str) -> None:
    if db == DATABASE:
        _as_app_on_c(cl, db, f"INSERT INTO orders (customer, amount, note) SELECT 6, g, '{note}' "
                             "FROM generate_series(1, 20) g")
    else:
        _as_app_on_c(cl, db, f"INSERT INTO moves (item_id, delta, note) SELECT 1 + g, g, '{note}' "
                             "FROM generate_series(1, 20) g")
        _as_app_on_c(cl, db, "UPDATE items SET qty = qty + 5 WHERE id <= 10")


def _wait_a_has_c(cl, chain) -> None:
    """Every database's reverse subscription has confirmed everything C wrote so far."""
    target = sql(cl, cl.c, "SELECT pg_current_wal_lsn()::text")[0][0]
    for part in chain.database_chains():
        wait_for(lambda slot=part.fallback_subscription_name: sql(
            cl, cl.c, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (target, slot))[0][0], 30, what=f"A confirming C in {part.database}")


def _run_fallback(cl, reports: Path):
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, **_conf(reports, action="fallback")))
    return dag_run, out.text


def _report(reports: Path, dag_run) -> dict:
    from pgshift.common.report import safe_name

    return json.loads((reports / "fallback" / safe_name(dag_run.run_id) / "report.json").read_text())


class WritesOnC:
    """Role app inserting on C in every database at once until C's fence ends its sessions."""

    def __init__(self, cl) -> None:
        self.cl, self.ids, self.errors = cl, {db: [] for db in DATABASES}, {}
        self.threads = [threading.Thread(target=self._write, args=(db,), daemon=True) for db in DATABASES]
        for t in self.threads:
            t.start()

    def _write(self, db: str) -> None:
        table = "orders (customer, amount, note) VALUES (7, 7, 'during fallback')" if db == DATABASE \
            else "moves (item_id, delta, note) VALUES (3, 3, 'during fallback')"
        conn = psycopg2.connect(self.cl.uri(self.cl.c, user="app", db=db))
        try:
            with conn.cursor() as cur:
                while True:
                    cur.execute(f"INSERT INTO {table} RETURNING id")
                    (new_id,) = cur.fetchone()
                    conn.commit()
                    self.ids[db].append(new_id)
        except psycopg2.Error as exc:  # C's fence terminates the session
            self.errors[db] = str(exc)
        finally:
            conn.close()

    def wait_until_busy(self) -> None:
        wait_for(lambda: all(len(ids) > 20 for ids in self.ids.values()), 30, what="writes on C in every database")

    def join(self) -> None:
        for t in self.threads:
            t.join(60)


def test_a_dry_run_of_three_databases_fences_nothing(clusters, chain):
    cl = clusters
    for db in DATABASES:
        _write_on_c(cl, db, "before the dry run")
    armed = _reverse_subscriptions(cl)
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, **_conf(chain.reports, action="fallback", dry_run=True)))
    assert_run_succeeded(dag_run, out.text)
    report = _report(chain.reports, dag_run)
    assert report["status"] == "dry run passed" and list(report["databases"]) == list(DATABASES)
    for db, part in report["databases"].items():
        assert {t["table"] for t in part["tables"]} == set(_tables(cl, db)), db
        assert all(t["status"] in ("equal", "moving") for t in part["tables"]), part["tables"]
        assert part["sequences"] and all(s["action"] != "set" for s in part["sequences"]), part["sequences"]
        assert not _read_only_on_c(cl, db) and _app_writes(cl, cl.c, db), db
        assert not _app_writes(cl, cl.a, db), db
    assert _reverse_subscriptions(cl) == armed


def test_a_failed_verification_in_one_database_rolls_all_three_back(clusters, chain):
    cl = clusters
    for db in DATABASES:
        _write_on_c(cl, db, "before the failed fallback")
    _wait_a_has_c(cl, chain.chain)
    armed = _reverse_subscriptions(cl)
    assert len(armed) == 3 and all(armed.values()), armed
    original = sql(cl, cl.a, "SELECT note FROM moves WHERE id = 7", db="shop")[0][0]
    sql(cl, cl.a, "UPDATE moves SET note = 'changed on A behind the subscription' WHERE id = 7", db="shop")
    try:
        dag_run, text = _run_fallback(cl, chain.reports)
    finally:
        sql(cl, cl.a, "UPDATE moves SET note = %s WHERE id = 7", (original,), db="shop")
    assert task_states(dag_run)["fallback"] == "failed", task_states(dag_run)
    assert "Fallback failed after C's fence and was rolled back: C is unfenced (roles app can log in again), " \
           "A stays fenced" in text
    assert "database shop (verify): parity mismatch C vs A in 1 table(s): public.moves" in text
    for db in DATABASES:  # C as it was, A still fenced, in every database
        assert not _read_only_on_c(cl, db) and _app_writes(cl, cl.c, db), db
        assert not _app_writes(cl, cl.a, db), db
    assert _reverse_subscriptions(cl) == armed  # the way back still armed everywhere
    report = _report(chain.reports, dag_run)
    assert report["status"] == "rolled back" and list(report["databases"]) == list(DATABASES)
    assert [t["table"] for t in report["databases"]["shop"]["tables"] if t["status"] == "differs"] == \
        ["public.moves"]
    assert {"c_fenced", "a_drained", "c_unfenced"} <= set(report["timeline"])
    assert "reverse_dropped" not in report["timeline"]


def test_an_interrupted_fallback_of_three_databases_is_unfenced_by_its_retry(clusters, chain):
    """A worker that died after fencing C over the three databases: the task's next try lifts every one."""
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.common.report import safe_name
    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.operators.fallback import FallbackOperator
    from pgshift.migration.switchover.fence import apply_fence, plan_fence

    cl, run_id = clusters, "manual__interrupted_three"
    with WayBackHook("pgshift_c") as c:
        record = plan_fence(c, ["app"], run_id, list(DATABASES))
        apply_fence(c, record, ["app"], by="fallback")
        record.save(chain.reports / "fallback" / safe_name(run_id) / "fence_c.json")
    assert all(_read_only_on_c(cl, db) for db in DATABASES)
    op = FallbackOperator(task_id="fallback", config=chain_config(cl, **_conf(chain.reports, action="fallback")))
    with pytest.raises(AirflowFailException, match=r"died after fencing C at .*; this retry unfenced C .* A stays "
                                                   "fenced"):
        op.execute(_context(run_id))
    for db in DATABASES:
        assert not _read_only_on_c(cl, db) and _app_writes(cl, cl.c, db), db
        assert not _app_writes(cl, cl.a, db), db


def test_fallback_of_three_databases_brings_every_write_on_c_back_to_a(clusters, chain):
    cl = clusters
    for db in DATABASES:
        _write_on_c(cl, db, "inserted on C")
    writers = WritesOnC(cl)
    writers.wait_until_busy()
    dag_run, text = _run_fallback(cl, chain.reports)
    writers.join()
    assert_run_succeeded(dag_run, text)
    assert set(writers.errors) == set(DATABASES), writers.errors  # C's fence ended the writes in every database
    for db in DATABASES:
        on_a, on_c = _fingerprints(cl, cl.a, db), _fingerprints(cl, cl.c, db)
        assert on_a == on_c, db
        assert sum(n for n, _ in on_a.values()) > 0, db
        table = "orders" if db == DATABASE else "moves"
        assert sql(cl, cl.a, f"SELECT count(*) FROM {table} WHERE id = ANY(%s)", (writers.ids[db],), db=db) == \
            [(len(writers.ids[db]),)], db
        assert _app_writes(cl, cl.a, db), db  # A is the primary again in every database
        assert not _app_writes(cl, cl.c, db) and _read_only_on_c(cl, db), db  # C fenced in every database
        assert not sql(cl, cl.c, "SELECT pubname FROM pg_publication", db=db), db  # C's publications dropped
    assert _reverse_subscriptions(cl) == {}
    assert not sql(cl, cl.c, "SELECT slot_name FROM pg_replication_slots")
    report = _report(chain.reports, dag_run)
    assert report["status"] == "fallen back" and list(report["databases"]) == list(DATABASES)
    assert list(report["timeline"])[-4:] == ["reverse_dropped", "committed", "a_unfenced", "ready"]
    parts = chain.chain.database_chains()
    for db, part in report["databases"].items():
        assert {t["table"] for t in part["tables"]} == set(_tables(cl, db)), db
        assert all(t["status"] == "equal" for t in part["tables"]), part["tables"]
        assert part["drain"]["slot"] == parts[DATABASES.index(db)].fallback_subscription_name
        assert part["drain"]["lsn"] == report["c_final_lsn"]
        assert part["privilege_parity"]["ok"], db
        assert any(s["action"] == "set" for s in part["sequences"]), part["sequences"]
    assert 0 < report["write_downtime_seconds"] < 60


def test_finish_of_three_databases_leaves_nothing(clusters, chain):
    """Stay on C instead: a fresh cutover of the three, then action=finish drops the way back and the chain in
    every database."""
    from airflow.models import Variable

    from pgshift.migration.configuration import variable_key
    from pgshift.migration.operators.fallback import FinishOperator

    cl = clusters
    _unfence_c(cl)  # the fallback before left C fenced; the chain is built again from scratch,
    Variable.delete(variable_key("hybrid_aurora_migration"))  # as a fresh deployment's (not the recorded three)
    build_three(cl, chain.reports)
    _cut_over(cl, chain.reports)
    assert len(_reverse_subscriptions(cl)) == 3
    op = FinishOperator(task_id="finish", config=chain_config(cl, **_conf(chain.reports, action="finish")))
    result = op.execute(_context("manual__finish_three"))
    assert result["dropped"] and not result["problems"], result
    for node in (cl.a, cl.b, cl.c):
        assert sql(cl, node, "SELECT slot_name FROM pg_replication_slots") == [], node.name
        assert sql(cl, node, "SELECT subname FROM pg_subscription") == [], node.name
        for db in DATABASES:
            assert sql(cl, node, "SELECT pubname FROM pg_publication", db=db) == [], (node.name, db)
    for db in DATABASES:  # the application stays on C
        assert _app_writes(cl, cl.c, db) and not _app_writes(cl, cl.a, db), db
