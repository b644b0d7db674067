"""A Citus coordinator (or any Citus node) through PgShiftHook: named SQL from pgshift/common/sql/citus_*.sql."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import psycopg2
import psycopg2.extensions

from pgshift.common.hooks.postgres import PgShiftHook
from pgshift.common.sql import qualified

# libpq settings an Airflow connection may carry in its extras (TLS above all).
LIBPQ_EXTRAS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword", "target_session_attrs",
                "gssencmode", "channel_binding", "keepalives", "keepalives_idle")
ALREADY_RUNNING = re.compile(r"A rebalance is already running as job (\d+)")
NO_MOVES = "No moves available for rebalancing"


def pg_message(exc: BaseException) -> str:
    """The server's own message (with DETAIL/HINT), without psycopg2's CONTEXT and LINE noise."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    if diag is None or not primary:
        return str(exc).strip()
    parts = [primary]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    return " ".join(parts)


class CitusHook(PgShiftHook):
    """Citus calls for citus_scale_out. ``host``/``port`` reach another node of the cluster with the
    connection's credentials and database (as Citus itself does); every statement is bounded by
    ``statement_timeout`` seconds when given.

    It reads a ``postgres`` connection or one of pgshift's own ``citus`` type (the same fields: the
    coordinator's host, port, database, user and password), which the connection form lists as
    "Citus coordinator (pgshift)"."""

    sql_package: ClassVar[str] = "pgshift.citus.sql"  # where this hook's SQL files are (see pgshift.common.sql)

    conn_type = "citus"
    hook_name = "Citus coordinator (pgshift)"
    default_conn_name = "citus_default"

    def __init__(self, postgres_conn_id: str, *, host: str | None = None, port: int | None = None,
                 connect_timeout: int = 10, statement_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(postgres_conn_id, connect_timeout=connect_timeout, **kwargs)
        self.host, self.port, self.statement_timeout = host, port, statement_timeout

    def get_conn(self) -> Any:
        conn = self.connection
        extra = conn.extra_dejson
        params: dict[str, Any] = {
            "host": self.host or conn.host, "port": self.port or conn.port or 5432, "user": conn.login,
            "password": conn.password or None, "dbname": self.database or conn.schema or "postgres",
            "connect_timeout": int(self.connect_timeout), "application_name": "pgshift citus_scale_out",
            **{k: extra[k] for k in LIBPQ_EXTRAS if k in extra},
        }
        if self.statement_timeout:
            params["options"] = f"-c statement_timeout={int(float(self.statement_timeout) * 1000)}"
        return psycopg2.connect(**{k: v for k, v in params.items() if v is not None})

    @property
    def where(self) -> str:
        """``host:port`` of the node this hook reaches (no user, no password)."""
        conn = self.connection
        return f"{self.host or conn.host}:{self.port or conn.port or 5432}"

    def take_notices(self) -> list[str]:
        """NOTICE/WARNING lines the server sent since the last call, oldest first."""
        notices = [n.strip() for n in self.live.notices]
        self.live.notices.clear()
        return notices

    # -- facts
    def node_facts(self) -> dict[str, Any]:
        facts = self.fetch_one("citus_node_facts") or {}  # a SELECT of expressions: one row
        if facts.get("citus_extversion"):
            facts.update(self.fetch_one("citus_cluster_facts") or {})
        return facts

    def metadata_node(self, host: str, port: int) -> dict[str, Any] | None:
        return self.fetch_one("citus_metadata_node", {"host": host, "port": port})

    def metadata_nodes(self) -> list[dict[str, Any]]:
        return self.fetch("citus_metadata_nodes")

    def active_workers(self) -> list[str]:
        return [f"{r['node_name']}:{r['node_port']}" for r in self.fetch("citus_active_workers")]

    def strategies(self) -> dict[str, bool]:
        """Rebalance strategy name -> is the default."""
        return {r["name"]: r["default_strategy"] for r in self.fetch("citus_rebalance_strategies")}

    # -- changes
    def add_node(self, host: str, port: int) -> int:
        return int(self.scalar("citus_add_node", {"host": host, "port": port}))

    def remove_node(self, host: str, port: int) -> None:
        self.execute("citus_remove_node", {"host": host, "port": port})

    def set_executors_per_node(self, executors: int) -> None:
        """ALTER SYSTEM + pg_reload_conf(): takes effect without a restart (the GUC is sighup)."""
        self.execute("citus_set_executors_per_node", {"executors": int(executors)})
        self.execute("reload_conf")

    def rebalance_start(self, strategy: str | None, drain_only: bool,
                        shard_transfer_mode: str) -> tuple[int | None, bool, list[str]]:
        """``(job_id, attached, notices)``: a new job, None when there is nothing to move, or the job
        already running (Citus refuses a second one with XX000 "A rebalance is already running as job N")."""
        self.take_notices()
        try:
            job_id = self.scalar("citus_rebalance_start", {"strategy": strategy, "drain_only": bool(drain_only),
                                                           "shard_transfer_mode": shard_transfer_mode})
        except psycopg2.Error as exc:
            match = ALREADY_RUNNING.search(getattr(exc.diag, "message_primary", None) or str(exc))
            if match:
                return int(match.group(1)), True, self.take_notices()
            raise
        return job_id, False, self.take_notices()

    # -- reading
    def plan(self, strategy: str | None, drain_only: bool) -> list[dict[str, Any]]:
        return self.fetch("citus_rebalance_plan", {"strategy": strategy, "drain_only": bool(drain_only)})

    def plan_with_nodes(self, nodes: list[tuple[str, int]], strategy: str | None,
                        drain_only: bool) -> tuple[list[dict[str, Any]], list[str], str | None]:
        """The plan as it would be once ``nodes`` are members: the missing ones are added with
        citus_add_node in a transaction that is rolled back after the plan is read. Returns the plan,
        the nodes it added for it, and why it could not add them (then the plan covers the members)."""
        conn = self.live
        conn.autocommit = False
        added: list[str] = []
        try:
            for host, port in nodes:
                if self.metadata_node(host, port) is None:
                    self.add_node(host, port)
                    added.append(f"{host}:{port}")
            return self.plan(strategy, drain_only), added, None
        except psycopg2.Error as exc:
            conn.rollback()
            return self.plan(strategy, drain_only), [], pg_message(exc)
        finally:
            conn.rollback()
            conn.autocommit = True

    def setting_or_none(self, name: str) -> str | None:
        """A setting's value, None when the server does not know it (no error)."""
        value = self.scalar("citus_setting", {"name": name})
        return None if value is None else str(value)

    def job_status(self, job_id: int | None = None) -> dict[str, Any] | None:
        """citus_rebalance_status() (the latest rebalance job), or citus_job_status(job_id) when the
        latest is another job than ``job_id``."""
        row = self.fetch_one("citus_rebalance_status")
        if job_id is not None and (row is None or row["job_id"] != int(job_id)):
            row = self.fetch_one("citus_job_status", {"job_id": int(job_id)})
        return row

    def rebalance_progress(self, job_id: int) -> list[dict[str, Any]]:
        """Per move task of the job: status, bytes planned (its shard group's size) and bytes moved so far,
        with the server's clock as ``read_at`` (see citus_rebalance_progress.sql)."""
        return self.fetch("citus_rebalance_progress", {"job_id": int(job_id)})

    def placements_per_node(self) -> list[dict[str, Any]]:
        return self.fetch("citus_placements_per_node")

    def distributed_tables(self) -> list[tuple[str, str]]:
        return [(r["schema_name"], r["table_name"]) for r in self.fetch("citus_distributed_tables")]

    def row_count(self, schema: str, table: str) -> int:
        return int(self.scalar("citus_count_rows", table=qualified(schema, table)))

    # -- clones (Citus 13.2 snapshot-based node addition, transcripts F_*)
    def clone_node(self, host: str, port: int) -> dict[str, Any] | None:
        """The pg_dist_node row of host:port with ``nodeisclone`` and ``nodeprimarynodeid``, if any."""
        return self.fetch_one("citus_clone_node", {"host": host, "port": port})

    def clone_source_facts(self) -> dict[str, Any]:
        """On a worker to clone: versions, recovery, wal_level, free WAL senders and slots, cluster size."""
        return self.fetch_one("citus_clone_source_facts") or {}

    def physical_slot(self, name: str) -> dict[str, Any] | None:
        """A replication slot by name (any type), None if there is none."""
        return self.fetch_one("physical_slot", (name,))

    def create_physical_slot(self, name: str) -> None:
        """A physical slot that reserves WAL at once, for the clone's pg_basebackup and streaming."""
        self.execute("create_physical_slot", (name,))

    def drop_inactive_slot(self, name: str) -> bool:
        """Drop slot ``name`` unless a walsender uses it; True if it was dropped."""
        return bool(self.fetch("drop_replication_slot", (name,)))

    def wal_sender(self, slot: str) -> dict[str, Any] | None:
        """On the source: physical slot ``slot``, its walsender and the clone's replay lag (wal_sender_for_slot)."""
        return self.fetch_one("wal_sender_for_slot", (slot,))

    def wal_receiver(self) -> dict[str, Any]:
        """On the clone: recovery state and WAL receiver (wal_receiver_status: one row always)."""
        return self.fetch_one("wal_receiver_status") or {}

    def add_clone_node(self, host: str, port: int, source_host: str, source_port: int) -> tuple[int, list[str]]:
        """citus_add_clone_node: ``(nodeid, notices)``; an already-registered clone of that source keeps its id."""
        self.take_notices()
        nodeid = int(self.scalar("citus_add_clone_node", {"host": host, "port": port, "source_host": source_host,
                                                          "source_port": source_port}))
        return nodeid, self.take_notices()

    def remove_clone_node(self, host: str, port: int) -> list[str]:
        """citus_remove_clone_node (an inactive clone only); Citus's notices."""
        self.take_notices()
        self.execute("citus_remove_clone_node", {"host": host, "port": port})
        return self.take_notices()

    def split_plan(self, host: str, port: int, source_host: str, source_port: int,
                   strategy: str | None) -> list[dict[str, Any]]:
        """get_snapshot_based_node_split_plan for the registered clone host:port of the source, sizes in bytes."""
        return self.fetch("citus_split_plan", {"host": host, "port": port, "source_host": source_host,
                                               "source_port": source_port, "strategy": strategy})

    def split_plan_registering(self, host: str, port: int, source_host: str, source_port: int,
                               strategy: str | None) -> tuple[list[dict[str, Any]], bool]:
        """The split plan for a streaming standby that may not be registered yet: registered with
        citus_add_clone_node in a transaction rolled back after the plan is read. ``(plan, registered here)``."""
        conn = self.live
        conn.autocommit = False
        try:
            registered = self.clone_node(host, port) is None
            self.add_clone_node(host, port, source_host, source_port)
            return self.split_plan(host, port, source_host, source_port, strategy), registered
        finally:
            conn.rollback()
            conn.autocommit = True

    def promote_clone(self, nodeid: int, strategy: str | None, catchup_timeout_seconds: int) -> list[str]:
        """citus_promote_clone_and_rebalance: blocks writes to the source while the clone catches up, promotes
        it and splits the shards. Returns Citus's notices."""
        self.take_notices()
        self.execute("citus_promote_clone", {"nodeid": int(nodeid), "strategy": strategy,
                                             "timeout": int(catchup_timeout_seconds)})
        return self.take_notices()

    def cleanup_orphaned(self) -> int:
        """citus_cleanup_orphaned_resources(), then how many pg_dist_cleanup records are still pending."""
        self.execute("citus_cleanup_orphaned")
        return int(self.scalar("citus_cleanup_pending") or 0)
