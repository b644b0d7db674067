"""citus_scale_out's clone method: what a clone is, the preflight's reading of it, and its replication lag.

A new node joins as a physical streaming standby of an existing worker (pg_basebackup -R), is registered
with ``citus_add_clone_node``, and ``citus_promote_clone_and_rebalance`` promotes it and splits the
worker's shards between the two (Citus 13.2, transcripts F_*). The lag check reuses the A -> B wait's
readings and verdict (:func:`pgshift.common.checks.lag.evaluate_wal_lag`); drivers are imported by the reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.lag import evaluate_wal_lag
from pgshift.common.checks.result import CheckResult

# Real Citus 13.2.2 blocked writes to the cloned worker for 5.25-5.31 s (F_06, F_08, F_09): its catch-up
# loop re-checks a lagging clone every 5 s, and a clone lags a little at the first check.
BLOCKING_WINDOW_SECONDS = 5.3
CATCHUP_POLL_SECONDS = 5


def slot_name(host: str, port: int) -> str:
    """The physical slot on the source that the clone of host:port streams through."""
    return f"pgshift_clone_{re.sub(r'[^a-z0-9_]', '_', host.lower())}_{port}"[:63]


def data_dir_for(template: str, host: str, port: int) -> str:
    """The clone's data directory: ``{host}`` and ``{port}`` replaced by the new node's."""
    return str(template).replace("{host}", host).replace("{port}", str(port))


def blocking_window_text(catchup_timeout_seconds: int) -> str:
    return (f"writes to the cloned worker are blocked for about {BLOCKING_WINDOW_SECONDS:g} s while the clone "
            f"catches up and is promoted (real Citus 13.2, F_06/F_08/F_09), at most {catchup_timeout_seconds} s "
            "(clone_catchup_timeout_seconds) before Citus gives up")


@dataclass(frozen=True)
class CloneLagCheck(Check):
    """Every clone streams from its source through its slot, replay lag under ``max_bytes``/``max_seconds``.

    ``clones`` is JSON: a list of ``{"host", "port", "source_host", "source_port", "slot"}`` (a check's fields
    are JSON primitives: it travels to the triggerer). Nodes are reached with the coordinator connection's
    credentials, as Citus reaches them."""

    name: ClassVar[str] = "citus_clone_lag"
    conn_id: str
    clones: str
    max_bytes: int
    max_seconds: float
    connect_timeout: int = 10

    def take_reading(self) -> CheckResult:
        from pgshift.citus.hook import CitusHook

        clones = json.loads(self.clones)
        if not clones:
            return CheckResult(True, "no clone to wait for", {"clones": []})
        results, details = [], []
        for clone in clones:
            with CitusHook(self.conn_id, host=clone["source_host"], port=int(clone["source_port"]),
                           connect_timeout=self.connect_timeout) as source:
                sender = source.wal_sender(clone["slot"])
            with CitusHook(self.conn_id, host=clone["host"], port=int(clone["port"]),
                           connect_timeout=self.connect_timeout) as node:
                receiver = node.wal_receiver()
            result = evaluate_wal_lag({"a": sender, "b": receiver}, clone["slot"], self.max_bytes, self.max_seconds)
            where = f"clone {clone['host']}:{clone['port']} of {clone['source_host']}:{clone['source_port']}"
            text = result.message.replace("A->B", "source->clone").replace("B is", "the clone is").replace(
                "B's", "the clone's").replace("on A", "on the source").replace("from A", "from the source")
            results.append(CheckResult(result.done, f"{where}: {text}", result.details, fatal=result.fatal))
            details.append({"node": f"{clone['host']}:{clone['port']}", **result.details})
        return CheckResult(all(r.done for r in results), "; ".join(r.message for r in results),
                           {"clones": details}, fatal=any(r.fatal for r in results))


def clone_lag_check(conn_id: str, clones: list[dict[str, Any]], max_bytes: int, max_seconds: float,
                    connect_timeout: int) -> CloneLagCheck:
    keep = ("host", "port", "source_host", "source_port", "slot")
    todo = [{k: c[k] for k in keep} for c in clones if c.get("state") != "member"]
    return CloneLagCheck(conn_id=conn_id, clones=json.dumps(todo), max_bytes=int(max_bytes),
                         max_seconds=float(max_seconds), connect_timeout=int(connect_timeout))
