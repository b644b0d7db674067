"""citus_scale_out's steps: preflight, add nodes, plan, start the rebalance, verify. Thin over CitusHook."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pgshift.citus.operators.base import CitusBaseOperator, _workers, pretty_bytes, text_table
from pgshift.citus.operators.clone_preflight import check_clones
from pgshift.citus.params import Worker, input_problems, new_nodes, parse_workers

if TYPE_CHECKING:  # psycopg2 and the postgres provider: imported where a step runs, not when the DAG is parsed
    import psycopg2

    from pgshift.citus.hook import CitusHook

_CITUS_RELEASE = re.compile(r"Citus \d+\.\d+\.\d+")




class CitusPreflightOperator(CitusBaseOperator):
    """Refuse bad input, then check (read-only) that the coordinator is a Citus coordinator with the
    strategy, and that every new node is reachable and runs the coordinator's PostgreSQL major and
    Citus version with the extension created. One failure lists every problem, by node."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "inputs")

    def __init__(self, *, inputs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inputs = inputs

    def execute(self, context: Context) -> dict[str, Any]:
        problems = input_problems(self.inputs)
        if problems:
            raise AirflowFailException("citus_scale_out refused its input; nothing was run against the cluster:\n"
                                       + "\n".join(f"  - {p}" for p in problems))
        by_node: dict[str, list[str]] = {}
        coordinator = self._check_coordinator(by_node)
        clones: list[dict[str, Any]] = []
        if self.inputs.get("method") == "clone":  # the new nodes are not up yet: their sources are checked

            clones = check_clones(self, self.inputs, coordinator, by_node) if coordinator.get("is_coordinator") else []
            checked = [{"node": c["node"], "member": c["state"] == "member", "source": c["source"]} for c in clones]
        else:
            workers, _ = parse_workers(self.inputs.get("new_workers") or [])
            checked = [self._check_worker(worker, coordinator, by_node) for worker in workers]
        facts: dict[str, Any] = {"coordinator": coordinator, "workers": checked, "clones": clones,
                                 "new_nodes": [str(w) for w in new_nodes(self.inputs)]}
        if by_node:
            listing = "\n".join(f"  - {node}: {p}" for node, problems in by_node.items() for p in problems)
            raise AirflowFailException(f"Preflight found {sum(map(len, by_node.values()))} problem(s); nothing was "
                                       f"changed:\n{listing}")
        release = _CITUS_RELEASE.search(coordinator.get("citus_version") or "")
        self.log.info("Preflight passed: coordinator %s (PostgreSQL %s, %s, extension %s); new workers: %s",
                      coordinator["where"], coordinator["server_version"],
                      release.group() if release else coordinator.get("citus_version"), coordinator["citus_extversion"],
                      ", ".join(f"{w['node']} ({'already a member' if w['member'] else 'to add'})"
                                for w in checked) or "none")
        return facts

    def _check_coordinator(self, by_node: dict[str, list[str]]) -> dict[str, Any]:
        import psycopg2

        from pgshift.citus.hook import pg_message

        hook = self.coordinator()
        label = f"coordinator ({self.coordinator_conn_id})"
        try:
            label = f"coordinator {hook.where} ({self.coordinator_conn_id})"
            with hook:
                facts = hook.node_facts()
                strategies = hook.strategies() if facts["citus_extversion"] else {}
        except psycopg2.Error as exc:
            by_node.setdefault(label, []).append(f"cannot connect or read: {pg_message(exc)}")
            return {}
        except Exception as exc:  # noqa: BLE001 - e.g. no such Airflow connection: reported like the rest
            by_node.setdefault(label, []).append(f"{type(exc).__name__}: {exc}")
            return {}
        facts["where"] = hook.where
        problems = by_node.setdefault(label, [])
        if not facts["citus_extversion"]:
            problems.append("has no citus extension: this is not a Citus coordinator (or the connection names "
                            "another database)")
        elif not facts["is_coordinator"]:
            problems.append(
                "is not a Citus coordinator: citus_is_coordinator() is false "
                + (f"(local group {facts['local_groupid']}: it is a worker; connect to the coordinator)"
                   if facts["local_groupid"] else "(it has no nodes in its metadata: set the coordinator up first, "
                   "SELECT citus_set_coordinator_host(...) and citus_add_node(...) for the existing workers)"))
        strategy = self.inputs.get("rebalance_strategy")
        if facts["citus_extversion"] and strategy not in strategies:
            known = ", ".join(f"{n} (default)" if d else n for n, d in strategies.items())
            problems.append(f"rebalance_strategy {strategy!r} is not in pg_dist_rebalance_strategy; known: {known}. "
                            "Custom strategies are created with citus_add_rebalance_strategy()")
        if not problems:
            del by_node[label]
        return facts

    def _check_worker(self, worker: Worker, coordinator: dict[str, Any],
                      by_node: dict[str, list[str]]) -> dict[str, Any]:
        import psycopg2

        from pgshift.citus.hook import pg_message

        label = f"new worker {worker}"
        problems: list[str] = []
        result: dict[str, Any] = {"node": str(worker), **worker.as_dict(), "member": False}
        if coordinator.get("is_coordinator"):
            with self.coordinator() as hook:
                row = hook.metadata_node(worker.host, worker.port)
            if row and row["groupid"] == 0:
                problems.append("is the coordinator itself, not a worker")
            elif row:
                result.update(member=True, nodeid=row["nodeid"])
                if not row["isactive"]:
                    problems.append(f"is in the cluster as node {row['nodeid']} but inactive: activate it "
                                    "(SELECT citus_activate_node(...)) or remove it first")
        try:
            with self.node(worker) as hook:
                facts = hook.node_facts()
        except psycopg2.Error as exc:
            problems.append(f"cannot connect from Airflow with the coordinator's credentials: {pg_message(exc)}")
            by_node[label] = problems
            return result
        result.update({k: facts.get(k) for k in ("server_version", "citus_extversion", "citus_version")})
        major, coordinator_major = facts["server_version_num"] // 10000, coordinator.get("server_version_num")
        if coordinator_major and major != coordinator_major // 10000:
            problems.append(f"runs PostgreSQL {facts['server_version']}, the coordinator "
                            f"{coordinator['server_version']}: every node must run the same major version")
        if not facts["citus_extversion"]:
            problems.append("has no citus extension: CREATE EXTENSION citus there first" if facts[
                "citus_available_version"] else "has no Citus installed: install the coordinator's Citus version, "
                "add citus to shared_preload_libraries, restart, then CREATE EXTENSION citus")
        else:
            if coordinator.get("citus_extversion") and facts["citus_extversion"] != coordinator["citus_extversion"]:
                problems.append(f"has citus extension {facts['citus_extversion']}, the coordinator "
                                f"{coordinator['citus_extversion']}: ALTER EXTENSION citus UPDATE on the older node")
            release, coordinator_release = (_CITUS_RELEASE.search(facts.get("citus_version") or ""),
                                            _CITUS_RELEASE.search(coordinator.get("citus_version") or ""))
            if release and coordinator_release and release.group() != coordinator_release.group():
                problems.append(f"runs {release.group()}, the coordinator {coordinator_release.group()}: "
                                "install the same Citus release on every node")
            if not result["member"] and facts.get("metadata_nodes"):
                # A node once removed from this cluster keeps its copy; citus_add_node replaces it.
                self.log.warning("%s already holds Citus metadata (%s nodes, %s distributed tables): "
                                 "citus_add_node will replace it; make sure it is no node of another cluster",
                                 worker, facts["metadata_nodes"], facts["distributed_tables"])
        if problems:
            by_node[label] = problems
        return result


class CitusAddNodesOperator(CitusBaseOperator):
    """citus_add_node for each new worker. Idempotent: a node already in the cluster keeps its nodeid.
    If one cannot be added, the nodes this task added are removed again, so pg_dist_node is as before."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "new_workers", "is_dry_run")

    def __init__(self, *, new_workers: Any, dry_run: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Not ``self.dry_run``: that would hide BaseOperator.dry_run(), the method that renders the templates.
        self.new_workers, self.is_dry_run = new_workers, dry_run

    def execute(self, context: Context) -> list[dict[str, Any]]:
        import psycopg2

        workers = _workers(self.new_workers)
        if self.is_dry_run:
            self.log.info("dry_run: not adding %s; the plan adds them in a transaction that it rolls back",
                          ", ".join(map(str, workers)) or "any node")
            return []
        added: list[Worker] = []
        result = []
        with self.coordinator() as hook:
            for worker in workers:
                existing = hook.metadata_node(worker.host, worker.port)
                try:
                    nodeid = hook.add_node(worker.host, worker.port)
                except psycopg2.Error as exc:
                    raise AirflowFailException(self._failure(hook, worker, exc, added)) from None
                if existing:
                    self.log.info("%s was already in the cluster as node %d: nothing to add", worker, nodeid)
                else:
                    added.append(worker)
                    self.log.info("Added %s to the cluster as node %d", worker, nodeid)
                result.append({**worker.as_dict(), "nodeid": nodeid, "added": existing is None})
            self.log.info("Active workers now: %s", ", ".join(hook.active_workers()))
        return result

    def _failure(self, hook: CitusHook, worker: Worker, exc: psycopg2.Error, added: list[Worker]) -> str:
        import psycopg2

        from pgshift.citus.hook import pg_message

        message = f"citus_add_node('{worker.host}', {worker.port}) failed: {pg_message(exc)}"
        if exc.pgcode == "08006":
            message += (f". The coordinator could not reach {worker} itself (from its own network, as its "
                        "server user): check the host, port, pg_hba.conf and the password Citus uses "
                        "(.pgpass or pg_dist_authinfo)")
        undone, not_undone = [], []
        for node in reversed(added):
            try:
                hook.remove_node(node.host, node.port)
                undone.append(str(node))
            except psycopg2.Error as rm_exc:
                not_undone.append(f"{node} ({pg_message(rm_exc)})")
        if not_undone:
            return f"{message}. Could not remove again the node(s) this task added: {', '.join(not_undone)}"
        if undone:
            return (f"{message}. Removed the node(s) this task had added ({', '.join(undone)}): "
                    "pg_dist_node is as before")
        return f"{message}. pg_dist_node is unchanged"


class CitusRebalancePlanOperator(CitusBaseOperator):
    """get_rebalance_table_shards_plan() for the strategy, logged as a table and returned (XCom).

    With dry_run, nodes not yet in the cluster are added in a transaction that is rolled back, so
    that the plan shows where shards would go and nothing is changed."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "new_workers", "rebalance_strategy",
                                      "drain_only", "is_dry_run")

    def __init__(self, *, new_workers: Any, rebalance_strategy: str, drain_only: Any = False, dry_run: Any = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.new_workers, self.rebalance_strategy = new_workers, rebalance_strategy
        self.drain_only, self.is_dry_run = drain_only, dry_run  # not self.dry_run: BaseOperator's method

    def execute(self, context: Context) -> list[dict[str, Any]]:
        workers = _workers(self.new_workers)
        with self.coordinator() as hook:
            if self.is_dry_run:
                rows, added, refused = hook.plan_with_nodes([(w.host, w.port) for w in workers],
                                                            self.rebalance_strategy, bool(self.drain_only))
                if added:
                    self.log.info("dry_run: planned as if %s were added (citus_add_node in a transaction that was "
                                  "rolled back)", ", ".join(added))
                if refused:
                    self.log.warning("dry_run: could not add the new nodes in a rolled-back transaction (%s); the "
                                     "plan covers the current members only", refused)
            else:
                rows = hook.plan(self.rebalance_strategy, bool(self.drain_only))
        moves = [{"table": r["table_name"], "shardid": r["shardid"], "shard_size": r["shard_size"],
                  "size": pretty_bytes(r["shard_size"]), "source": f"{r['sourcename']}:{r['sourceport']}",
                  "target": f"{r['targetname']}:{r['targetport']}"} for r in rows]
        what = f"strategy {self.rebalance_strategy}" + (", drain only" if self.drain_only else "")
        if moves:
            total = sum(m["shard_size"] or 0 for m in moves)
            shown = [{**m, "move": f"{m['source']} → {m['target']}"} for m in moves]
            self.log.info("Rebalance plan (%s): %d shard moves, %s\n%s", what, len(moves), pretty_bytes(total),
                          text_table(shown, [("table", "table"), ("shardid", "shard"), ("size", "size"),
                                             ("move", "source → target")]))
        else:
            self.log.info("Rebalance plan (%s): nothing to move, the cluster is balanced", what)
        if self.is_dry_run:
            self.log.info("dry_run: stopping after the plan; nothing was changed")
        return moves


class CitusRebalanceStartOperator(CitusBaseOperator):
    """Optionally set citus.max_background_task_executors_per_node (ALTER SYSTEM + reload), count the
    rows of every distributed table, then citus_rebalance_start(). Returns the job id (None when
    Citus has nothing to move) and the row counts; attaches to a rebalance that is already running."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "rebalance_strategy", "drain_only",
                                      "shard_transfer_mode", "max_background_task_executors_per_node",
                                      "verify_row_counts", "skip", "row_counts_before")

    def __init__(self, *, rebalance_strategy: str, drain_only: Any = False, shard_transfer_mode: str = "auto",
                 max_background_task_executors_per_node: Any = None, verify_row_counts: Any = True,
                 skip: Any = False, row_counts_before: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The clone method: the rebalance after the split may be skipped; its rows were counted before the promotion.
        self.skip, self.row_counts_before = skip, row_counts_before
        self.rebalance_strategy, self.drain_only = rebalance_strategy, drain_only
        self.shard_transfer_mode = shard_transfer_mode
        self.max_background_task_executors_per_node = max_background_task_executors_per_node
        self.verify_row_counts = verify_row_counts

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.citus.hook import NO_MOVES

        if self.skip:
            self.log.info("rebalance_after_clone is off: the shards stay as the clone split left them")
            return {"job_id": None, "attached": False, "row_counts_before": self.row_counts_before or {}}
        with self.coordinator() as hook:
            executors = self.max_background_task_executors_per_node
            if executors is not None:
                hook.set_executors_per_node(int(executors))
                self.log.info("Set citus.max_background_task_executors_per_node = %d (ALTER SYSTEM, "
                              "pg_reload_conf())", int(executors))
                cap = hook.setting_or_none("citus.max_background_task_executors")
                if cap and int(executors) > int(cap):
                    self.log.warning("citus.max_background_task_executors (the cluster-wide cap) is %s: no more "
                                     "than %s moves run at once, whatever the per-node setting", cap, cap)
            counts = {}
            if isinstance(self.row_counts_before, dict):
                counts = self.row_counts_before
            elif self.verify_row_counts:
                counts = {f"{s}.{t}": hook.row_count(s, t) for s, t in hook.distributed_tables()}
                self.log.info("Rows before the rebalance: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
            job_id, attached, notices = hook.rebalance_start(self.rebalance_strategy, bool(self.drain_only),
                                                             self.shard_transfer_mode)
        if attached:
            self.log.warning("A rebalance is already running as job %d: attaching to it instead of starting "
                             "another (its strategy and options are the ones it was started with)", job_id)
        elif job_id is None:
            if not any(NO_MOVES in n for n in notices):
                raise AirflowException("citus_rebalance_start() returned NULL without the 'No moves available' "
                                       f"notice; notices: {notices or 'none'}")
            self.log.info("Citus: %s. Nothing to wait for", NO_MOVES)
        else:
            self.log.info("Started rebalance job %d (Citus: %s)", job_id, "; ".join(
                n.splitlines()[0].split(":", 1)[-1].strip() for n in notices) or "no notice")
        return {"job_id": job_id, "attached": attached, "row_counts_before": counts}


class CitusVerifyOperator(CitusBaseOperator):
    """After the rebalance: shard placements per node, Citus plans no further move for the strategy
    (balanced), the new workers are active members, every distributed table has its row count."""

    template_fields: Sequence[str] = (*CitusBaseOperator.template_fields, "new_workers", "rebalance_strategy",
                                      "drain_only", "row_counts_before", "verify_row_counts", "require_balanced")

    def __init__(self, *, new_workers: Any, rebalance_strategy: str, drain_only: Any = False,
                 row_counts_before: Any = None, verify_row_counts: Any = True, require_balanced: Any = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.require_balanced = require_balanced  # off when the clone method's rebalance is skipped
        self.new_workers, self.rebalance_strategy, self.drain_only = new_workers, rebalance_strategy, drain_only
        self.row_counts_before, self.verify_row_counts = row_counts_before, verify_row_counts

    def execute(self, context: Context) -> dict[str, Any]:
        workers = _workers(self.new_workers)
        problems: list[str] = []
        with self.coordinator() as hook:
            placements = hook.placements_per_node()
            members = {(n["nodename"], n["nodeport"]): n for n in hook.metadata_nodes()}
            remaining = hook.plan(self.rebalance_strategy, bool(self.drain_only))
            counts = ({f"{s}.{t}": hook.row_count(s, t) for s, t in hook.distributed_tables()}
                      if self.verify_row_counts else {})
        rows = [{"node": f"{p['nodename']}:{p['nodeport']}", "shards": p["shard_count"],
                 "size": pretty_bytes(p["total_bytes"]), "should": "yes" if p["shouldhaveshards"] else "no"}
                for p in placements]
        self.log.info("Shard placements per node:\n%s",
                      text_table(rows, [("node", "node"), ("shards", "shards"), ("size", "size"),
                                        ("should", "should have shards")]))
        for worker in workers:
            node = members.get((worker.host, worker.port))
            if not node or not node["isactive"]:
                problems.append(f"{worker} is not an active node of the cluster")
        for p in placements:
            if not p["shouldhaveshards"] and p["shard_count"] and self.drain_only:
                problems.append(f"{p['nodename']}:{p['nodeport']} should have no shards but holds {p['shard_count']}")
        if remaining and not self.require_balanced:
            self.log.info("Citus would still move %d shard(s); the rebalance was skipped", len(remaining))
        elif remaining:
            moves = ", ".join(f"{r['shardid']} {r['sourcename']}:{r['sourceport']} -> {r['targetname']}:"
                              f"{r['targetport']}" for r in remaining[:10])
            problems.append(f"not balanced for {self.rebalance_strategy}: Citus still plans {len(remaining)} "
                            f"move(s): {moves}")
        before = (self.row_counts_before or {}) if self.verify_row_counts else {}
        for table, count in before.items():
            if table not in counts:
                problems.append(f"{table} is no longer a distributed table (it had {count} rows)")
            elif counts[table] != count:
                problems.append(f"{table} has {counts[table]} rows, {count} before the rebalance")
            else:
                self.log.info("%s: %d rows, as before the rebalance", table, count)
        if problems:
            raise AirflowFailException("Verification failed:\n" + "\n".join(f"  - {p}" for p in problems))
        self.log.info("Verified: balanced for %s, %d nodes hold shards", self.rebalance_strategy,
                      sum(1 for p in placements if p["shard_count"]))
        return {"placements": rows, "row_counts": counts}
