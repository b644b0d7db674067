"""Helpers for the chain tests: reset A/B/C between scenarios, run the DAG, compare A with C."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import psycopg2
from pgcluster import DATABASE, LocalClusters
from testing_support import CaptureFds, airflow_db_text, wait_for  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig

NAMES = {"publication": "pgshift_pub", "physical_slot": "pgshift_b_physical", "slot": "pgshift_c_logical",
         "subscription": "pgshift_sub"}


def sql(cl: LocalClusters, node, query: str, params: Any = None, db: str = DATABASE) -> list[tuple]:
    return cl.sql(node, query, params, db)


def chain_conf(cl: LocalClusters, **overrides: Any) -> dict[str, Any]:
    from pgcluster import server_user

    conf = {
        "action": "setup", "b_data_dir": str(cl.b.data_dir), "b_bin_dir": str(cl.bin_dir), "b_port": cl.b.port,
        "b_os_user": server_user(), "poll_interval_seconds": 0.5, "slot_create_timeout_seconds": 60,
    }
    conf.update(overrides)
    return conf


def chain_values(cl: LocalClusters | None = None, **overrides: Any) -> dict[str, Any]:
    """The DAG's param defaults (for ``cl``'s chain: B's directories, port and OS user) under ``overrides``, by
    param name: what an operator's ``config`` renders to."""
    from hybrid_aurora_migration import DEFAULTS

    values = {**DEFAULTS, **(chain_conf(cl, action="validate") if cl else {})}
    values.update(overrides)
    return values


def chain_config(cl: LocalClusters | None = None, **overrides: Any) -> ChainConfig:
    """:func:`chain_values` as the ChainConfig an operator takes."""
    from pgshift.migration.config import ChainConfig

    return ChainConfig.from_values(chain_values(cl, **overrides))


def app_can_log_in(cl: LocalClusters, node: Any = None) -> bool:
    """Role app logs in on ``node`` (default A); False only because it may not (a fence), any other error fails the
    test."""
    try:
        psycopg2.connect(cl.uri(cl.a if node is None else node, user="app")).close()
        return True
    except psycopg2.OperationalError as exc:
        assert "not permitted to log in" in str(exc), exc
        return False


def user_tables(cl: LocalClusters, node) -> list[str]:
    return [r[0] for r in sql(cl, node, "SELECT schemaname || '.' || relname FROM pg_stat_user_tables "
                                        "ORDER BY 1")]


def fingerprint(cl: LocalClusters, node, table: str) -> tuple[int, str]:
    schema, name = table.split(".", 1)
    row = sql(cl, node, f'SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text '
                        f'FROM "{schema}"."{name}" t')[0]
    return int(row[0]), row[1]


def wait_c_caught_up(cl: LocalClusters, slot: str = NAMES["slot"], timeout: float = 60) -> None:
    """C has confirmed everything A wrote so far: B replayed A's LSN and the slot confirmed it."""
    target = sql(cl, cl.a, "SELECT pg_current_wal_lsn()::text")[0][0]
    wait_for(lambda: sql(cl, cl.b, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))[0][0],
             timeout, what="B replaying A's final LSN")
    wait_for(lambda: sql(cl, cl.b, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                                   "WHERE slot_name = %s", (target, slot))[0][0],
             timeout, what="C confirming A's final LSN")


def run_dag(conf: dict):
    """The DAG under dag.test(), without its DeadlineAlert (dag.test() crashes on it in 3.3.2)."""
    from hybrid_aurora_migration import build_dag

    return build_dag(with_deadline=False, with_watchdog=False).test(run_conf=conf)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def secrets_in(text: str, cl: LocalClusters) -> list[str]:
    return [role for role, pw in cl.passwords().items() if pw in text]


def make_standby(cl: LocalClusters) -> None:
    """B as a streaming standby of A, through the basebackup operator (local path)."""
    from pgshift.migration.operators.basebackup import BasebackupOperator

    BasebackupOperator(task_id="basebackup_b", config=chain_config(cl, physical_slot_name=NAMES["physical_slot"]),
                       ).execute({})


def set_up_chain(cl: LocalClusters) -> None:
    """A fresh chain built by the DAG (native mode), with C caught up; role app may write on A."""
    cl.reset_chain()
    sql(cl, cl.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app; "
                  "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO app")
    dag_run = run_dag(chain_conf(cl))
    assert str(dag_run.state) == "success", task_states(dag_run)
    wait_c_caught_up(cl)


def set_up_parts(cl: LocalClusters, chain: ChainConfig, timeout: float = 60) -> None:
    """Every database of ``chain`` but the first (set up by the DAG) given its publication on A, slot on B and
    subscription on C by the single-database operators with its part of the chain
    (:meth:`ChainConfig.database_chains`); then each database's initial copy done and C caught up on its slot.
    The tables must be on C already (the schema operator keeps its baseline in a Variable: task only)."""
    from pgshift.migration.operators.publication import CreatePublicationOperator
    from pgshift.migration.operators.slot import LogicalSlotOperator
    from pgshift.migration.operators.subscription import CreateSubscriptionOperator

    context = {"run_id": "manual__setup", "dag": SimpleNamespace(dag_id="hybrid_aurora_migration")}
    parts = chain.database_chains()
    for part in parts[1:]:
        for op in (CreatePublicationOperator(task_id="p", config=part), LogicalSlotOperator(task_id="s", config=part),
                   CreateSubscriptionOperator(task_id="u", config=part)):
            op.execute(context)  # type: ignore[arg-type]
    for part in parts:
        def synced(db: str = part.database or DATABASE) -> bool:
            sql(cl, cl.a, "SELECT pg_log_standby_snapshot()")  # each table-sync slot on B waits for one
            return not sql(cl, cl.c, "SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'", db=db)

        wait_for(synced, timeout, what=f"initial sync of {part.database or DATABASE}")
        wait_c_caught_up(cl, part.slot_name)


def drop_subscriptions(cl: LocalClusters, node, db: str) -> None:
    """Every subscription in database ``db`` of ``node`` dropped, its slot left alone (see :func:`drop_database`)."""
    for (name,) in sql(cl, node, "SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                                 "WHERE d.datname = %s", (db,)):
        for statement in ("ALTER SUBSCRIPTION {} DISABLE", "ALTER SUBSCRIPTION {} SET (slot_name = NONE)",
                          "DROP SUBSCRIPTION {}"):
            sql(cl, node, statement.format(f'"{name}"'), db=db)


def drop_database(cl: LocalClusters, db: str) -> None:
    """Database ``db`` gone from A, B and C, with its subscriptions and slots (other modules share the servers)."""
    running = [node for node in (cl.c, cl.b, cl.a) if cl.is_running(node)]
    for node in running:
        if node is not cl.b and sql(cl, node, "SELECT 1 FROM pg_database WHERE datname = %s", (db,)):
            drop_subscriptions(cl, node, db)
    for node in running:
        sql(cl, node, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = %s",
            (db,))
    for node in running:
        if node is not cl.b:
            sql(cl, node, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@contextlib.contextmanager
def slot_invalidated_on_b(cl: LocalClusters, slot: str, before_churn: Callable[[], Any] = lambda: None):
    """B without hot_standby_feedback, then catalog churn and VACUUM on A until ``slot`` on B conflicts
    (invalidation_reason rows_removed). hot_standby_feedback is back on when the block ends."""
    sql(cl, cl.b, "ALTER SYSTEM SET hot_standby_feedback = off")
    sql(cl, cl.b, "SELECT pg_reload_conf()")
    try:
        wait_for(lambda: sql(cl, cl.a, "SELECT catalog_xmin IS NULL AND xmin IS NULL FROM pg_replication_slots "
                                       "WHERE slot_type = 'physical'")[0][0], 30, what="feedback to stop")
        before_churn()

        def churn_and_check() -> bool:
            # Two transactions: rows created and deleted by one transaction conflict with no snapshot.
            sql(cl, cl.a, "CREATE TABLE churn (x int)")
            sql(cl, cl.a, "DROP TABLE churn")
            sql(cl, cl.a, "VACUUM pg_class, pg_attribute, pg_type, pg_depend")
            return sql(cl, cl.b, "SELECT conflicting FROM pg_replication_slots WHERE slot_name = %s", (slot,))[0][0]

        wait_for(churn_and_check, 60, interval=0.5, what="catalog vacuum on A to invalidate the slot on B")
        yield
    finally:
        sql(cl, cl.b, "ALTER SYSTEM SET hot_standby_feedback = on")
        sql(cl, cl.b, "SELECT pg_reload_conf()")


class SlotReader:
    """Reads B's logical slot once it exists, like the DMS replication instance would (``pg_recvlogical`` as
    ``replicator``): DMS's stand-in in the tests of dms mode."""

    def __init__(self, cl, slot: str, db: str = "pgshift") -> None:
        self.cl, self.slot, self.db = cl, slot, db
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                exists = sql(self.cl, self.cl.b, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                             (self.slot,))
            except psycopg2.OperationalError:  # B is not up until the basebackup step has run
                continue
            if exists:
                env = {**os.environ, "PGPASSWORD": self.cl.passwords()["replicator"]}
                self.proc = subprocess.Popen(
                    [self.cl.tool("pg_recvlogical"), "-h", "127.0.0.1", "-p", str(self.cl.b.port), "-U",
                     "replicator", "-d", self.db, "-S", self.slot, "--start", "-f", "/dev/null", "-s", "1"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return

    def __enter__(self) -> SlotReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
