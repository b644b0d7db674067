"""citus_scale_out's clone method (Citus 13.2 snapshot-based node addition), step by step.

preflight (:func:`pgshift.citus.operators.clone_preflight.check_clones`) -> basebackup of the source
worker onto each new node (:class:`CitusCloneBasebackupOperator`: pgshift's basebackup script, locally or
over SSH) -> replication lag (:class:`pgshift.citus.sensors.CitusCloneLagSensor`) -> ``citus_add_clone_node``
(:class:`CitusAddClonesOperator`) -> split plan (:class:`CitusClonePlanOperator`) ->
``citus_promote_clone_and_rebalance`` (:class:`CitusPromoteClonesOperator`). Each step does nothing when
the method is ``rebalance``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.citus.clone import blocking_window_text
from pgshift.citus.operators.base import CitusBaseOperator, pretty_bytes, text_table
from pgshift.citus.operators.clone_preflight import half_promoted
from pgshift.citus.operators.scale_out import CitusRebalancePlanOperator, CitusVerifyOperator
from pgshift.citus.params import Worker, parse_worker
from pgshift.common.operators.basebackup import BasebackupScriptOperator

if TYPE_CHECKING:
    from pgshift.citus.hook import CitusHook
    from pgshift.common.hooks.postgres import ConnParams

def _clones(value: Any) -> list[dict[str, Any]]:
    return [c for c in (value or []) if isinstance(c, dict)]


class CitusCloneBasebackupOperator(BasebackupScriptOperator):
    """Each new node of the clone method becomes a streaming standby of its source worker: pgshift's
    basebackup script (pg_basebackup -R -X stream through a physical slot on the source, then start), locally
    or over SSH (deferred, one node after the other). A node that already streams from its source, or that an
    earlier run promoted, is left as it is. The replication connection is the coordinator connection's user
    and password, as Citus reaches its nodes."""

    template_fields: Sequence[str] = ("coordinator_conn_id", "clones", "bin_dir", "ssh_conn_id", "os_user",
                                      "start_command")

    def __init__(self, *, coordinator_conn_id: str, clones: Any, bin_dir: Any, ssh_conn_id: Any = None,
                 os_user: Any = None, start_command: Any = None, **kwargs: Any) -> None:
        super().__init__(conn_a="", conn_a_replication="", conn_b="", physical_slot="", data_dir="", bin_dir=bin_dir,
                         ssh_conn_id=ssh_conn_id, os_user=os_user, start_command=start_command, **kwargs)
        self.coordinator_conn_id, self.clones = coordinator_conn_id, clones
        self._clone: dict[str, Any] = {}

    def _hook(self, host: str, port: int) -> CitusHook:
        from pgshift.citus.hook import CitusHook

        return CitusHook(self.coordinator_conn_id, host=host, port=int(port))

    def _use(self, clone: dict[str, Any]) -> None:
        self._clone = clone
        self.physical_slot, self.data_dir, self.port = clone["slot"], clone["data_dir"], clone["port"]
        self.primary_host = clone["source_host"]

    def _streaming(self) -> tuple[bool, str]:
        c = self._clone
        try:
            with self._hook(c["source_host"], c["source_port"]) as source:
                a = source.wal_sender(c["slot"])
            with self._hook(c["host"], c["port"]) as node:
                b = node.wal_receiver()
        except Exception as exc:  # noqa: BLE001 - a node not started yet is the normal first reading
            return False, f"{c['node']} not reachable ({type(exc).__name__})"
        ok = bool(a and a["active"] and b.get("in_recovery") and b.get("status") == "streaming")
        return ok, (f"{c['node']} in_recovery={b.get('in_recovery')}, receiver={b.get('status')}, "
                    f"slot={b.get('slot_name')}")

    def _ensure_feedback(self) -> None:
        """The script writes hot_standby_feedback = on into the clone's configuration."""

    def _ensure_physical_slot(self) -> None:
        c = self._clone
        with self._hook(c["source_host"], c["source_port"]) as source:
            if source.physical_slot(c["slot"]) is None:
                source.create_physical_slot(c["slot"])
                self.log.info("Created physical slot %r on %s", c["slot"], c["source"])

    def _replication_login(self) -> ConnParams:
        params = self._hook(self._clone["source_host"], self._clone["source_port"]).conn_params()
        return {**params, "host": self._clone["source_host"], "port": int(self._clone["source_port"])}

    def _pending(self) -> list[dict[str, Any]]:
        return [c for c in _clones(self.clones) if c["state"] == "build"]

    def execute(self, context: Context) -> dict[str, Any]:
        # Preflight saw empty data directories; a retry may find what a failed try left: moved aside, not reused.
        self.move_aside_data_dir = context["ti"].try_number > 1
        for clone in self._pending():
            self._use(clone)
            streaming, state = self._streaming()
            if streaming:
                self.log.info("%s already streams from %s (%s): nothing to do", clone["node"], clone["source"], state)
                continue
            self.log.info("%s: basebackup of %s into %s (%s)", clone["node"], clone["source"], clone["data_dir"],
                          state)
            super().execute(context)  # local: runs and waits; over SSH: defers to execute_complete
        return {"clones": [c["node"] for c in _clones(self.clones) if c["state"] != "member"]}

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        for clone in self._pending():  # the first one that does not stream yet is the one just built
            self._use(clone)
            if not self._streaming()[0]:
                break
        super().execute_complete(context, event)
        return self.execute(context)


class CitusAddClonesOperator(CitusBaseOperator):
    """citus_add_clone_node for each clone (idempotent: a registered clone keeps its nodeid). With dry_run
    nothing is registered: the plan registers them in a transaction it rolls back."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "clones", "is_dry_run")

    def __init__(self, *, clones: Any, dry_run: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clones, self.is_dry_run = clones, dry_run

    def execute(self, context: Context) -> list[dict[str, Any]]:
        todo = [c for c in _clones(self.clones) if c["state"] != "member"]
        if self.is_dry_run or not todo:
            if todo:
                self.log.info("dry_run: not registering %s; the plan does it in a transaction it rolls back",
                              ", ".join(c["node"] for c in todo))
            return []
        import psycopg2

        from pgshift.citus.hook import pg_message

        result: list[dict[str, Any]] = []
        with self.coordinator() as hook:
            for clone in todo:
                try:
                    nodeid, notices = hook.add_clone_node(clone["host"], clone["port"], clone["source_host"],
                                                          clone["source_port"])
                except psycopg2.Error as exc:
                    message = f"citus_add_clone_node for {clone['node']} failed: {pg_message(exc)}"
                    for done in result:  # registered by this try: removed again, pg_dist_node as before
                        if done["registered"]:
                            done_clone = parse_worker(done["node"])
                            hook.remove_clone_node(done_clone.host, done_clone.port)
                            message += f"; removed the clone {done['node']} registered before it"
                    raise AirflowFailException(message) from None
                self.log.info("%s is clone node %d of %s (Citus: %s)", clone["node"], nodeid, clone["source"],
                              "; ".join(n.split(":", 1)[-1].strip() for n in notices))
                result.append({"node": clone["node"], "nodeid": nodeid, "registered": clone["state"] != "registered"})
        return result


class CitusClonePlanOperator(CitusRebalancePlanOperator):
    """Method rebalance: the rebalance plan. Method clone: each clone's split plan
    (get_snapshot_based_node_split_plan: which shards the promoted node keeps), logged as a table with the
    write-blocking window; with dry_run the clones are registered in a transaction that is rolled back."""

    template_fields: Sequence[str] = (*CitusRebalancePlanOperator.template_fields, "method", "clones",
                                      "catchup_timeout_seconds")

    def __init__(self, *, method: Any = "rebalance", clones: Any = None, catchup_timeout_seconds: Any = 300,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method, self.clones, self.catchup_timeout_seconds = method, clones, catchup_timeout_seconds

    def execute(self, context: Context) -> list[dict[str, Any]]:
        if self.method != "clone":
            return super().execute(context)
        plans: list[dict[str, Any]] = []
        with self.coordinator() as hook:
            for clone in _clones(self.clones):
                if clone["state"] == "member":
                    self.log.info("%s is already a member (promoted earlier): no split to plan", clone["node"])
                    continue
                rows, temporary = hook.split_plan_registering(clone["host"], clone["port"], clone["source_host"],
                                                              clone["source_port"], self.rebalance_strategy)
                moving = [r for r in rows if r["placement_node"] == "Clone Node"]
                shown = [{**r, "size": pretty_bytes(r["shard_size"]),
                          "node": clone["node"] if r["placement_node"] == "Clone Node" else clone["source"]}
                         for r in rows]
                self.log.info(
                    "Split plan for %s, a clone of %s (strategy %s%s): %d of %d shards (%s of %s) go to the clone, "
                    "nothing is copied; %s\n%s", clone["node"], clone["source"], self.rebalance_strategy,
                    ", registered in a rolled-back transaction" if temporary else "", len(moving), len(rows),
                    pretty_bytes(sum(r["shard_size"] or 0 for r in moving)),
                    pretty_bytes(sum(r["shard_size"] or 0 for r in rows)),
                    blocking_window_text(int(self.catchup_timeout_seconds)),
                    text_table(shown, [("table_name", "table"), ("shardid", "shard"), ("size", "size"),
                                       ("node", "kept by")]))
                plans += [{"clone": clone["node"], "source": clone["source"], "table": r["table_name"],
                           "shardid": r["shardid"], "shard_size": r["shard_size"], "placement": r["placement_node"]}
                          for r in rows]
        if self.is_dry_run:
            self.log.info("dry_run: stopping after the plan; the cluster's metadata was not changed")
        return plans


class CitusPromoteClonesOperator(CitusBaseOperator):
    """citus_promote_clone_and_rebalance for each registered clone, after counting the rows of every
    distributed table (verify compares). The strategy was checked by preflight: Citus checks it only after
    pg_promote(). A failure before the promotion removes the clone (citus_remove_clone_node), so
    pg_dist_node is as before; a node left half-promoted is reported with the way out. Then the source's
    physical slot is dropped. Returns per clone the measured write-blocking window."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "method", "clones", "rebalance_strategy",
                                      "catchup_timeout_seconds", "verify_row_counts")

    def __init__(self, *, method: Any, clones: Any, rebalance_strategy: Any, catchup_timeout_seconds: Any = 300,
                 verify_row_counts: Any = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method, self.clones, self.rebalance_strategy = method, clones, rebalance_strategy
        self.catchup_timeout_seconds, self.verify_row_counts = catchup_timeout_seconds, verify_row_counts

    def execute(self, context: Context) -> dict[str, Any]:
        if self.method != "clone":
            return {"promoted": [], "row_counts_before": None}
        promoted = []
        with self.coordinator() as hook:
            counts = ({f"{s}.{t}": hook.row_count(s, t) for s, t in hook.distributed_tables()}
                      if self.verify_row_counts else {})
            if counts:
                self.log.info("Rows before the promotion: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
            for clone in _clones(self.clones):
                row = hook.clone_node(clone["host"], clone["port"])
                if row and row["isactive"] and not row["nodeisclone"]:
                    self.log.info("%s is already a promoted member (node %d): nothing to promote", clone["node"],
                                  row["nodeid"])
                    self._drop_slot(clone)
                    continue
                if not row:
                    raise AirflowFailException(f"{clone['node']} is not registered as a clone: run add_clones first")
                promoted.append(self._promote(hook, clone, int(row["nodeid"])))
        return {"promoted": promoted, "row_counts_before": counts}

    def _promote(self, hook: CitusHook, clone: dict[str, Any], nodeid: int) -> dict[str, Any]:
        import psycopg2

        self.log.info("Promoting %s (node %d), clone of %s: %s", clone["node"], nodeid, clone["source"],
                      blocking_window_text(int(self.catchup_timeout_seconds)))
        started = time.monotonic()
        try:
            notices = hook.promote_clone(nodeid, self.rebalance_strategy, int(self.catchup_timeout_seconds))
        except psycopg2.Error as exc:
            raise AirflowFailException(self._failure(hook, clone, exc)) from None
        window = time.monotonic() - started
        for notice in notices:
            self.log.info("Citus: %s", notice.split(":", 1)[-1].strip())
        self.log.info("%s is promoted and holds its share of %s's shards; writes to %s were blocked for %.1f s",
                      clone["node"], clone["source"], clone["source"], window)
        self._drop_slot(clone)
        return {"node": clone["node"], "nodeid": nodeid, "source": clone["source"],
                "blocked_writes_seconds": round(window, 2)}

    def _failure(self, hook: CitusHook, clone: dict[str, Any], exc: Exception) -> str:
        import psycopg2

        from pgshift.citus.hook import pg_message

        message = f"citus_promote_clone_and_rebalance for {clone['node']} failed: {pg_message(exc)}"
        standby = None
        try:
            with self.node(parse_worker(clone["node"])) as node:
                standby = node.wal_receiver()
        except psycopg2.Error:
            pass
        if standby is not None and not standby.get("in_recovery"):
            return f"{message}. {half_promoted(clone['node'], clone['source'])}"
        try:
            notices = hook.remove_clone_node(clone["host"], clone["port"])
        except psycopg2.Error as rm_exc:
            return f"{message}. Could not remove the clone again: {pg_message(rm_exc)}"
        self.log.info("Citus: %s", "; ".join(n.split(":", 1)[-1].strip() for n in notices))
        return (f"{message}. The clone was not promoted and is removed again (citus_remove_clone_node): pg_dist_node "
                f"is as before. {clone['node']} still runs as a standby of {clone['source']}; a new run reuses it")

    def _drop_slot(self, clone: dict[str, Any]) -> None:
        """The promoted node no longer streams: its slot would hold the source's WAL for ever."""
        import psycopg2

        try:
            with self.node(Worker(clone["source_host"], int(clone["source_port"]))) as source:
                if source.drop_inactive_slot(clone["slot"]):
                    self.log.info("Dropped physical slot %r on %s", clone["slot"], clone["source"])
        except psycopg2.Error as exc:
            self.log.warning("Could not drop slot %r on %s: %s", clone["slot"], clone["source"], exc)


class CitusCloneVerifyOperator(CitusVerifyOperator):
    """Verify, and for the clone method also: each new node is out of recovery, and no shard copy is left to
    drop (citus_cleanup_orphaned_resources() first: Citus's maintenance daemon would drop them later)."""

    template_fields: Sequence[str] = (*CitusVerifyOperator.template_fields, "method", "clones")

    def __init__(self, *, method: Any = "rebalance", clones: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method, self.clones = method, clones

    def execute(self, context: Context) -> dict[str, Any]:
        result = super().execute(context)
        if self.method != "clone":
            return result
        problems = []
        for clone in _clones(self.clones):
            with self.node(Worker(clone["host"], int(clone["port"]))) as node:
                if node.wal_receiver().get("in_recovery"):
                    problems.append(f"{clone['node']} is still in recovery (a standby), not a promoted worker")
        with self.coordinator() as hook:
            pending = hook.cleanup_orphaned()
        if pending:
            problems.append(f"{pending} shard copies are still to be dropped (pg_dist_cleanup) after "
                            "citus_cleanup_orphaned_resources()")
        if problems:
            raise AirflowFailException("Verification failed:\n" + "\n".join(f"  - {p}" for p in problems))
        self.log.info("Verified: every clone is promoted and writable, no shard copy left to drop")
        return {**result, "clones": [c["node"] for c in _clones(self.clones)]}
