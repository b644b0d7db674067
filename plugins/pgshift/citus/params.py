"""citus_scale_out's input, checked before anything reaches the cluster. Problems are sentences."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pgshift.common.validation import identifier_problem, positive_problem

TRANSFER_MODES = ("auto", "force_logical", "block_writes")
METHODS = ("rebalance", "clone")
BUILTIN_STRATEGIES = ("by_disk_size", "by_shard_count")
# A DNS name or IPv4 address, or an IPv6 address in brackets, then :port.
_HOST_PORT = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?))"
                        r":(?P<port>[^:]*)$")


@dataclass(frozen=True)
class Worker:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}


def parse_worker(spec: object) -> Worker:
    """``host:port`` (``[v6addr]:port`` for IPv6) -> Worker; ValueError says what is wrong."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{spec!r} is not host:port")
    text = spec.strip()
    match = _HOST_PORT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not host:port (a host name or IPv4 address, or [IPv6], then a colon "
                         "and the port, e.g. 10.0.0.13:5432)")
    port = match.group("port")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port {port!r} is not a number from 1 to 65535")
    return Worker(match.group("ipv6") or match.group("host"), int(port))


def parse_workers(specs: object) -> tuple[list[Worker], list[str]]:
    """A list of ``host:port`` (or one string of them separated by commas or blanks)."""
    if isinstance(specs, str):
        specs = [s for s in re.split(r"[\s,]+", specs) if s]
    if not isinstance(specs, (list, tuple)):
        return [], [f"new_workers must be a list of host:port, got {specs!r}"]
    workers: list[Worker] = []
    problems: list[str] = []
    for spec in specs:
        try:
            worker = parse_worker(spec)
        except ValueError as exc:
            problems.append(f"new_workers: {exc}")
            continue
        if worker in workers:
            problems.append(f"new_workers: {worker} is listed twice")
        else:
            workers.append(worker)
    return workers, problems


def parse_clone_specs(specs: object) -> tuple[list[tuple[Worker, Worker | None]], list[str]]:
    """``new_host:port=source_host:port`` (or ``new_host:port``: the source is chosen later) per new node."""
    if isinstance(specs, str):
        specs = [s for s in re.split(r"[\s,]+", specs) if s]
    if not isinstance(specs, (list, tuple)):
        return [], [f"new_workers must be a list of host:port, got {specs!r}"]
    pairs: list[tuple[Worker, Worker | None]] = []
    problems: list[str] = []
    for spec in specs:
        new_text, _, source_text = str(spec).partition("=")
        try:
            new = parse_worker(new_text)
            source = parse_worker(source_text) if source_text else None
        except ValueError as exc:
            problems.append(f"new_workers: {exc}")
            continue
        if any(new == n for n, _ in pairs):
            problems.append(f"new_workers: {new} is listed twice")
        elif source == new:
            problems.append(f"new_workers: {new} cannot be a clone of itself")
        else:
            pairs.append((new, source))
    news = {n for n, _ in pairs}
    problems += [f"new_workers: {s} is a new node, it cannot be the source of {n}" for n, s in pairs if s in news]
    return pairs, problems


def new_nodes(params: dict[str, Any]) -> list[Worker]:
    """The nodes the run adds, whatever the method (a clone's source stripped)."""
    if params.get("method") == "clone":
        return [n for n, _ in parse_clone_specs(params.get("new_workers", []))[0]]
    return parse_workers(params.get("new_workers", []))[0]


def input_problems(params: dict[str, Any]) -> list[str]:
    """Every problem with the DAG's params, without touching any server."""
    problems: list[str] = []
    conn_id = params.get("coordinator_conn_id")
    if not isinstance(conn_id, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,250}", conn_id):
        problems.append(f"coordinator_conn_id {conn_id!r} is not an Airflow connection id")
    method = params.get("method", "rebalance")
    if method not in METHODS:
        problems.append(f"method {method!r} is not one of {', '.join(METHODS)}")
    if method == "clone":
        pairs, worker_problems = parse_clone_specs(params.get("new_workers", []))
        workers = [n for n, _ in pairs]
        if params.get("drain_only"):
            problems.append("drain_only cannot be combined with method clone (a clone adds a node)")
        if not params.get("clone_data_dir"):
            problems.append("clone_data_dir is empty: method clone needs the new node's data directory "
                            "({port} and {host} are replaced by the new node's)")
        if not params.get("clone_bin_dir"):
            problems.append("clone_bin_dir is empty: method clone needs the PostgreSQL bin directory on the new node")
    else:
        workers, worker_problems = parse_workers(params.get("new_workers", []))
        if any("=" in str(w) for w in (params.get("new_workers") or [])):
            worker_problems = ["new_workers: host:port=source is only for method clone"]
    problems += worker_problems
    if not workers and not worker_problems and not params.get("drain_only"):
        problems.append("new_workers is empty: give at least one host:port (or set drain_only to only drain "
                        "nodes marked shouldhaveshards=false)")
    strategy = params.get("rebalance_strategy")
    problem = identifier_problem(strategy, "rebalance_strategy")
    if problem:
        problems.append(f"{problem} (by_disk_size, by_shard_count or a strategy in pg_dist_rebalance_strategy)")
    mode = params.get("shard_transfer_mode")
    if mode not in TRANSFER_MODES:
        problems.append(f"shard_transfer_mode {mode!r} is not one of {', '.join(TRANSFER_MODES)}")
    for flag in ("drain_only", "dry_run", "verify_row_counts", "rebalance_after_clone"):
        if flag in params and not isinstance(params[flag], bool):
            problems.append(f"{flag} must be true or false, got {params[flag]!r}")
    executors = params.get("max_background_task_executors_per_node")
    if executors is not None and (isinstance(executors, bool) or not isinstance(executors, int) or executors < 1):
        problems.append("max_background_task_executors_per_node must be empty (leave the setting alone) or a "
                        f"whole number of at least 1, got {executors!r}")
    for name in ("rebalance_timeout_minutes", "statement_timeout_seconds", "connect_timeout_seconds",
                 "poll_interval_seconds", "clone_catchup_timeout_seconds"):
        if name in params:
            problem = positive_problem(params[name], name)
            if problem:
                problems.append(problem)
    return problems
