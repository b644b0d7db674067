"""The cutover of a chain of three databases on real servers: one fence over all, a failure in the third database's
verification rolling all three back, and an attempt that died between finalizing two databases finished by its
retry's recovery.

The chain: ``pgshift`` (set up by the DAG, the sample data) and ``shop`` and ``ledger`` (created on A here, with tables
and sequences of their own), each set up by the single-database operators with its part of the chain
(``ChainConfig.database_chains()``), the databases created on C by the test. Every comparison here is the test's
own (count and content hash per table), independent of pgshift's verify.
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
    chain_conf,
    chain_config,
    drop_database,
    fingerprint,
    run_dag,
    set_up_chain,
    set_up_parts,
    sql,
    task_states,
    wait_for,
)
from pgcluster import DATABASE

from pgshift.common.report import safe_name

DAG_ID = "hybrid_aurora_migration"
EXTRA = ("shop", "ledger")
DATABASES = (DATABASE, *EXTRA)
SCHEMA = """
CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0);
CREATE TABLE moves (id bigserial PRIMARY KEY, item_id bigint NOT NULL, delta int NOT NULL, note text);
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app;
"""
DATA = """
GRANT SELECT ON ALL TABLES IN SCHEMA public TO replicator;  -- the subscription's initial copy reads B as it
INSERT INTO items (name, qty) SELECT 'item ' || g, g FROM generate_series(1, 500) g;
INSERT INTO moves (item_id, delta, note) SELECT 1 + g % 500, g % 7, 'seed' FROM generate_series(1, 2000) g;
"""


def _context(run_id: str, dag_id: str = DAG_ID) -> dict:
    return {"run_id": run_id, "dag": SimpleNamespace(dag_id=dag_id)}


def _conf(reports: Path, **overrides) -> dict:
    return {"mode": "native", "app_roles": ["app"], "dry_run": False, "databases": list(DATABASES),
            "report_dir": str(reports), "gate_readings": 1, **overrides}


@pytest.fixture(scope="module")
def three(clusters, tmp_path_factory):
    """The chain of three databases, C caught up in each."""
    reports = tmp_path_factory.mktemp("reports")
    yield SimpleNamespace(chain=build_three(clusters, reports), reports=reports)
    drop_three(clusters)  # the extra databases' role settings go with them; the first database's stays
    for node in (clusters.a, clusters.c):
        sql(clusters, node, f'ALTER ROLE app IN DATABASE "{DATABASE}" RESET ALL')


def build_three(cl, reports: Path):
    """The chain of three databases from scratch (an earlier one's extra databases dropped first), C caught up in
    each; returns its ChainConfig (also used by tests/test_several_databases_fallback.py)."""
    for db in EXTRA:
        drop_database(cl, db)
    set_up_chain(cl)  # the pgshift database, by the DAG
    chain = chain_config(cl, **_conf(reports))
    for db in EXTRA:  # the schema on C by SQL: the schema operator keeps its baseline in a Variable (task only)
        sql(cl, cl.a, f'CREATE DATABASE "{db}"')
        sql(cl, cl.a, SCHEMA + DATA, db=db)
        sql(cl, cl.c, f'CREATE DATABASE "{db}"')
        sql(cl, cl.c, SCHEMA, db=db)
    set_up_parts(cl, chain)
    return chain


def drop_three(cl) -> None:
    """The extra databases gone from A, B and C; A unfenced."""
    for db in EXTRA:
        drop_database(cl, db)
    cl.unfence_a()


def _tables(cl, db: str) -> list[str]:
    return [r[0] for r in sql(cl, cl.a, "SELECT schemaname || '.' || relname FROM pg_stat_user_tables ORDER BY 1",
                              db=db)]


def _fingerprints(cl, node, db: str) -> dict[str, tuple[int, str]]:
    out = {}
    for table in _tables(cl, db):
        schema, name = table.split(".", 1)
        row = sql(cl, node, f'SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text '
                            f'FROM "{schema}"."{name}" t', db=db)[0]
        out[table] = (int(row[0]), row[1])
    return out


def _read_only(cl, db: str) -> list:
    return sql(cl, cl.a, "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                         "WHERE d.datname = %s AND s.setrole = 0", (db,))


def _app_writes(cl, node, db: str) -> bool:
    """Role app logs in to ``db`` on ``node`` and writes (rolled back); False when it may not log in."""
    try:
        conn = psycopg2.connect(cl.uri(node, user="app", db=db))
    except psycopg2.OperationalError as exc:
        assert "not permitted to log in" in str(exc), exc
        return False
    try:
        with conn.cursor() as cur:
            table = "orders (customer, amount, note) VALUES (1, 1, 'probe')" if db == DATABASE \
                else "items (name) VALUES ('probe')"
            cur.execute(f"INSERT INTO {table}")
        conn.rollback()
        return True
    finally:
        conn.close()


# ALTER ROLE app IN DATABASE <db> SET …, one per database of the chain (harmless to the writers)
SETTINGS = {DATABASE: "work_mem = '5MB'", "shop": "lock_timeout = '7s'", "ledger": "work_mem = '6MB'"}


def _role_settings(cl, node) -> dict[str, list[str]]:
    """Role app's settings per database of the chain (none in every database here)."""
    return {db: list(config) for db, config in sql(
        cl, node, "SELECT d.datname, s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = "
                  "s.setdatabase WHERE s.setrole = 'app'::regrole AND d.datname = ANY (%s) ORDER BY 1",
        (list(DATABASES),))}


def _subscriptions_on_c(cl) -> dict[str, bool]:
    return {f"{db}:{name}": enabled for db, name, enabled in sql(
        cl, cl.c, "SELECT d.datname, s.subname, s.subenabled FROM pg_subscription s "
                  "JOIN pg_database d ON d.oid = s.subdbid ORDER BY 1, 2")}


class Writers:
    """Role app writing in every database at once until the fence ends its sessions."""

    def __init__(self, cl) -> None:
        self.cl, self.rows, self.errors = cl, dict.fromkeys(DATABASES, 0), {}
        self.threads = [threading.Thread(target=self._write, args=(db,), daemon=True) for db in DATABASES]
        for t in self.threads:
            t.start()

    def _write(self, db: str) -> None:
        conn = psycopg2.connect(self.cl.uri(self.cl.a, user="app", db=db))
        try:
            with conn.cursor() as cur:
                while True:
                    if db == DATABASE:
                        cur.execute("INSERT INTO orders (customer, amount, note) VALUES (2, 3, 'several')")
                    else:
                        cur.execute("INSERT INTO moves (item_id, delta, note) VALUES (1, 1, 'several')")
                        cur.execute("UPDATE items SET qty = qty + 1 WHERE id = 1 + (random() * 499)::int")
                    conn.commit()
                    self.rows[db] += 1
        except psycopg2.Error as exc:  # the fence terminates the session: the end of the load
            self.errors[db] = str(exc)
        finally:
            conn.close()

    def wait_until_busy(self) -> None:
        wait_for(lambda: all(n > 30 for n in self.rows.values()), 30, what="writes in every database")

    def join(self) -> None:
        for t in self.threads:
            t.join(60)


def _run_cutover(cl, reports: Path, **overrides):
    """The DAG's cutover (gate and cutover tasks) under dag.test(), and what it logged."""
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(cl, action="cutover", **_conf(reports, **overrides)))
    return dag_run, out.text


def test_a_fence_an_earlier_pgshift_wrote_is_lifted_by_the_watchdog(clusters, three):
    """A marker without ``databases`` (one database, ``previous_read_only``): the watchdog lifts it exactly."""
    from pgshift.migration.switchover.watchdog import UNFENCED, look

    cl, run_id = clusters, "manual__old_marker"
    old = {"run_id": run_id, "state": "fenced", "roles": ["app"], "previous_read_only": None, "fenced_at": 1.0,
           "changed_at": 1.0, "changed_by": "cutover", "history": []}
    sql(cl, cl.a, "ALTER ROLE app NOLOGIN")
    sql(cl, cl.a, f"ALTER DATABASE {DATABASE} SET default_transaction_read_only = on")
    sql(cl, cl.a, f"ALTER DATABASE {DATABASE} SET pgshift.fence = %s", (json.dumps(old),))
    verdict, facts = look("pgshift_a", run_id)
    assert verdict == UNFENCED and facts["roles"] == ["app"]
    assert _read_only(cl, DATABASE) == [] and _app_writes(cl, cl.a, DATABASE)


def test_a_database_gone_from_a_is_refused_before_the_fence(clusters, three):
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.fence import fence_problems

    with PrimaryHook("pgshift_a") as a:
        problems = fence_problems(a, ["app"], {}, databases=[*DATABASES, "vanished"])
    assert problems == ["database 'vanished' is not on A (any more): it was set up for this chain; take it out of "
                        "databases, or restore it"]


def test_dry_run_of_three_databases_changes_nothing(clusters, three):
    cl = clusters
    before = (_subscriptions_on_c(cl), {db: _fingerprints(cl, cl.c, db) for db in EXTRA})
    dag_run, _ = _run_cutover(cl, three.reports, dry_run=True)
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert _subscriptions_on_c(cl) == before[0] and all(_read_only(cl, db) == [] for db in DATABASES)
    report = json.loads((three.reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
    assert report["status"] == "dry run passed" and "fenced" not in report["timeline"]
    for db in DATABASES:
        part = report["databases"][db]
        assert all(t["status"] == "equal" for t in part["tables"]) and part["tables"], (db, part["tables"])
        assert part["fallback"]["would_arm"] is True, part["fallback"]


def test_failure_in_the_third_database_rolls_back_all_three(clusters, three):
    cl = clusters
    before = _subscriptions_on_c(cl)
    assert len(before) == 3 and all(before.values()), before
    original = sql(cl, cl.c, "SELECT name FROM items WHERE id = 7", db="ledger")[0][0]
    sql(cl, cl.c, "UPDATE items SET name = 'changed behind replication' WHERE id = 7", db="ledger")
    # a DBA's session in the third database, of a role the fence leaves alone: the report must name it
    console = psycopg2.connect(cl.uri(cl.a, db="ledger"), application_name="dba console")
    try:
        dag_run, message = _run_cutover(cl, three.reports, verify="full")
    finally:
        sql(cl, cl.c, "UPDATE items SET name = %s WHERE id = 7", (original,), db="ledger")
        pid = console.get_backend_pid()
        console.close()
    assert str(dag_run.state) == "failed" and task_states(dag_run)["cutover"] == "failed", task_states(dag_run)
    assert "Cutover failed after the fence and was rolled back: A is unfenced" in message
    assert "database ledger" in message and "public.items" in message
    for db in DATABASES:
        assert _read_only(cl, db) == [], db  # default_transaction_read_only and the marker gone everywhere
        assert _app_writes(cl, cl.a, db), db
    assert _subscriptions_on_c(cl) == before  # C as it was: every subscription there and enabled
    assert not sql(cl, cl.a, "SELECT subname FROM pg_subscription")  # no way back left armed on A
    # nor on C: each database's publication and slot, made before the fence, dropped by the rollback
    assert sql(cl, cl.c, "SELECT slot_name FROM pg_replication_slots") == []
    for db in DATABASES:
        assert sql(cl, cl.c, "SELECT pubname FROM pg_publication", db=db) == [], db
    report = json.loads((three.reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
    assert report["status"] == "rolled back" and list(report["databases"]) == list(DATABASES)
    assert [t["table"] for t in report["databases"]["ledger"]["tables"] if t["status"] == "differs"] == \
        ["public.items"]
    unfenced = [(s["pid"], s["database"], s["application_name"]) for s in report["unfenced_sessions"]]
    assert (pid, "ledger", "dba console") in unfenced, unfenced
    assert all(name != "pgshift" for _, _, name in unfenced), unfenced  # pgshift's own sessions are not the app's


def test_cutover_of_three_databases_interrupted_and_finished_by_the_retry(clusters, three, monkeypatch):
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.operators.cutover import CutoverOperator
    from pgshift.migration.switchover.cutover import several
    from pgshift.migration.switchover.lease import read_marker

    cl = clusters
    real_finalize = several.finalize_database

    def dies_after_the_first(settings, c, log):
        if settings.database != DATABASE:
            raise RuntimeError("worker lost between two databases")
        return real_finalize(settings, c, log)

    monkeypatch.setattr(several, "finalize_database", dies_after_the_first)
    for db, setting in SETTINGS.items():  # made on A after setup: the cutover's role sync must bring each
        sql(cl, cl.a, f'ALTER ROLE app IN DATABASE "{db}" SET {setting}')
    writers = Writers(cl)
    writers.wait_until_busy()
    dag_run, text = _run_cutover(cl, three.reports)
    writers.join()
    assert task_states(dag_run)["cutover"] == "failed", task_states(dag_run)
    assert "Cutover passed its commit point and then failed: RuntimeError: worker lost between two databases" in text
    assert f"finalized so far: {DATABASE}. Retry the task" in text
    assert set(writers.errors) == set(DATABASES), writers.errors  # every database's writer was fenced off
    with PrimaryHook("pgshift_a") as a:
        marker = read_marker(a)
    assert marker is not None and marker.state == "committed" and marker.finalized == [DATABASE]
    assert set(marker.databases) == set(DATABASES)
    assert list(_subscriptions_on_c(cl)) == ["ledger:pgshift_sub_ledger", "shop:pgshift_sub_shop"]
    for db in DATABASES:
        assert "default_transaction_read_only=on" in _read_only(cl, db)[0][0], db
        assert not _app_writes(cl, cl.c, db), db  # LOGIN on C comes with ready: nobody writes anywhere

    monkeypatch.setattr(several, "finalize_database", real_finalize)
    retry = CutoverOperator(task_id="cutover", config=chain_config(cl, **_conf(three.reports)))
    xcom = retry.execute(_context(dag_run.run_id))  # the task's next try: same run
    assert xcom["status"] == "ready" and xcom["finished_by_retry"], xcom
    with PrimaryHook("pgshift_a") as a:
        marker = read_marker(a)
    assert marker is not None and marker.state == "ready" and marker.finalized == list(DATABASES)
    assert _subscriptions_on_c(cl) == {}
    assert _role_settings(cl, cl.c) == _role_settings(cl, cl.a) == {
        db: [setting.replace(" = ", "=").replace("'", "")] for db, setting in SETTINGS.items()}
    for db in DATABASES:
        on_a, on_c = _fingerprints(cl, cl.a, db), _fingerprints(cl, cl.c, db)
        assert on_a == on_c, db
        assert sum(n for n, _ in on_a.values()) > 0
        for seq, a_last in sql(cl, cl.a, "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
                                         "WHERE last_value IS NOT NULL", db=db):
            c_last = sql(cl, cl.c, "SELECT last_value FROM pg_sequences WHERE schemaname || '.' || sequencename "
                                   "= %s", (seq,), db=db)[0][0]
            assert c_last is not None and c_last >= a_last, (db, seq, a_last, c_last)
        assert _app_writes(cl, cl.c, db), db
        assert not _app_writes(cl, cl.a, db), db
        assert "default_transaction_read_only=on" in _read_only(cl, db)[0][0], db
    assert writers.rows[DATABASE] > 0 and all(writers.rows.values())
    report = json.loads(Path(xcom["report"]).read_text())
    assert report["status"] == "ready" and report["finalized"] == [DATABASE]  # the attempt's, before it died
    assert [step.split(":")[0] for step in report["finished_by_retry"]["steps"][:2]] == list(EXTRA)
    assert list(report["databases"]) == list(DATABASES)
    for db, part in report["databases"].items():
        assert {t["table"] for t in part["tables"]} == set(_tables(cl, db)), db
        assert part["drain"]["slot"] == three.chain.database_chains()[DATABASES.index(db)].slot_name
        assert part["verify"]["method"] == "delta" and part["verify"]["inside_fence"]["tables"] is not None
        assert any(s["action"] == "set" for s in part["sequences"]), part["sequences"]
    assert report["forecast"]["seconds"] <= report["forecast"]["max_write_downtime_seconds"]
    assert fingerprint(cl, cl.a, "public.orders") == fingerprint(cl, cl.c, "public.orders")


def test_role_parity_sees_a_setting_in_another_database(clusters, three):
    """The privilege parity of shop's part compares app's settings in shop: one made on C alone is named."""
    from pgshift.migration.access.sync import AccessSpec, access_parity
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook

    cl = clusters
    spec = AccessSpec.from_params(schemas=["public"], tables=[], app_roles=["app"])
    sql(cl, cl.c, "ALTER ROLE app IN DATABASE shop SET statement_timeout = '9min'")
    try:
        with PrimaryHook("pgshift_a/shop") as a, TargetHook("pgshift_c/shop") as c:
            parity = access_parity(a, c, spec, ["app"])
    finally:
        sql(cl, cl.c, "ALTER ROLE app IN DATABASE shop RESET statement_timeout")
    assert not parity.ok
    assert "role app: setting statement_timeout in database shop on C, not on A" in parity.differences()
