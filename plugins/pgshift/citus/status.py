"""Reading a Citus rebalance job: citus_rebalance_status() turned into a CheckResult and a progress line.

Shared by the sensor (first reading, poke mode) and the deferrable trigger (in a thread) as
:class:`RebalanceCheck`; the driver is imported by the reading, since the sensor imports this module when
the DAG file is parsed. States and
the details jsonb are those recorded from Citus 13.2 (transcripts A_16, B_default_02, B_staggered_02):
scheduled -> running -> finished | failed | cancelled, with failing/cancelling on the way. Each reading
also computes the job's progress in bytes, rate and ETA (:mod:`pgshift.citus.progress`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pgshift.citus.progress import RebalanceProgress, compute, progress_line
from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult

FINISHED = "finished"
FAILED = ("failed", "cancelled")
_SHARD = re.compile(r"citus_move_shard_placement\((\d+)")


def _first_line_of_error(message: str) -> str:
    """A task message is 'ERROR: ...\\nCONTEXT: Citus Background Task Queue Executor ...': keep the error."""
    lines = [ln for ln in (message or "").splitlines() if ln.strip() and not ln.startswith("CONTEXT:")]
    return " ".join(lines) or "(no message)"


def _task_label(task: dict[str, Any]) -> str:
    shard = _SHARD.search(task.get("command") or "")
    return f"task {task.get('task_id')}" + (f" (shard {shard.group(1)})" if shard else "")


def _counts(details: dict[str, Any]) -> str:
    counts = details.get("task_state_counts") or {}
    total = sum(counts.values())
    order = ("done", "running", "runnable", "blocked", "error", "unscheduled", "cancelling", "cancelled")
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    return f"{counts.get('done', 0)}/{total} tasks done" + (f" ({', '.join(parts)})" if parts else "")


def moves_under_way(details: dict[str, Any]) -> list[str]:
    """One line per running move: shard, source -> target, phase, sizes, LSN lag."""
    lines = []
    for task in details.get("tasks") or []:
        if task.get("state") != "running":
            continue
        hosts, size, lsn = task.get("hosts") or {}, task.get("size") or {}, task.get("LSN") or {}
        lines.append(f"{_task_label(task)}: {hosts.get('source')} -> {hosts.get('target')}, {task.get('phase')}, "
                     f"{size.get('target')} of {size.get('source')} copied, LSN lag {lsn.get('lag') or 'n/a'}")
    return lines


def troubled_tasks(details: dict[str, Any]) -> list[str]:
    """Tasks in error, or waiting to be retried, with Citus's message."""
    lines = []
    for task in details.get("tasks") or []:
        if task.get("state") == "error":
            lines.append(f"{_task_label(task)} failed after {task.get('retried', 0)} retries: "
                         f"{_first_line_of_error(task.get('message'))}")
        elif task.get("state") == "runnable" and task.get("retried"):
            lines.append(f"{_task_label(task)} is retried (attempt {task['retried'] + 1}) after: "
                         f"{_first_line_of_error(task.get('message'))}")
    return lines


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    details = row.get("details") or {}
    return {"job_id": row["job_id"], "state": row["state"],
            "started_at": row["started_at"].isoformat() if isinstance(row.get("started_at"), datetime) else None,
            "finished_at": row["finished_at"].isoformat() if isinstance(row.get("finished_at"), datetime) else None,
            "task_state_counts": details.get("task_state_counts") or {}}


def evaluate(row: dict[str, Any] | None, job_id: int,
             progress: RebalanceProgress | str | None = None) -> CheckResult:
    """What the job's status row means for the DAG: done, keep waiting, or fail now.

    ``progress`` (bytes, rate, ETA; or why they could not be read) adds the progress line to the
    message and the figures to the details under ``progress``.
    """
    if row is None:
        return CheckResult(False, f"Citus has no job {job_id} (pg_dist_background_job): was it started in a "
                                  "transaction that was rolled back?", fatal=True)
    state, details = row["state"], row.get("details") or {}
    summary = f"Rebalance job {job_id} is {state}: {_counts(details)}"
    figures = _json_safe(row)
    if progress is not None:
        result = _evaluate(row, job_id, state, details, summary, figures)
        if isinstance(progress, RebalanceProgress):
            line = progress_line(job_id, state, progress)
            result.details["progress"] = progress.as_dict()
        else:
            line = f"rebalance job {job_id}: progress unknown, ETA unknown ({progress})"
            result.details["progress"] = None
        result.message = f"{result.message}; {line}" if result.done or result.fatal else f"{line}; {result.message}"
        return result
    return _evaluate(row, job_id, state, details, summary, figures)


def _evaluate(row: dict[str, Any], job_id: int, state: str, details: dict[str, Any], summary: str,
              figures: dict[str, Any]) -> CheckResult:
    trouble = troubled_tasks(details)
    if state == FINISHED:
        took = ""
        if isinstance(row.get("started_at"), datetime) and isinstance(row.get("finished_at"), datetime):
            took = f" in {(row['finished_at'] - row['started_at']).total_seconds():.1f} s"
        return CheckResult(True, f"Rebalance job {job_id} finished{took}: {_counts(details)}", figures)
    if state in FAILED:
        why = "; ".join(trouble) or ("stopped by citus_rebalance_stop() or citus_job_cancel()"
                                     if state == "cancelled" else "no task reports an error")
        return CheckResult(False, f"Citus rebalance job {job_id} {state}: {why}. {_counts(details)}. "
                                  "Moves already done stay done; fix the cause and run the DAG again "
                                  "(it plans and moves only what is still unbalanced).", figures, fatal=True)
    lines = [summary, *moves_under_way(details), *trouble]
    if state == "failing":
        lines.append("a task has failed; Citus lets the other tasks finish, waiting for a terminal state")
    elif state == "cancelling":
        lines.append("the job is being cancelled; waiting for a terminal state")
    return CheckResult(False, "; ".join(lines), figures)


def read_rebalance(conn_id: str, job_id: int, connect_timeout: int = 10,
                   statement_timeout: float | None = 60) -> CheckResult:
    """One reading. A failed read is not a verdict: Citus itself fails status calls while a worker
    is down (08006 "cannot get the size because of a connection error", B_parallel_02)."""
    import psycopg2

    from pgshift.citus.hook import CitusHook, pg_message

    progress: RebalanceProgress | str | None = None
    try:
        with CitusHook(conn_id, connect_timeout=connect_timeout, statement_timeout=statement_timeout) as hook:
            row = hook.job_status(job_id)
            if row is not None:
                # Sizes are read from the workers (citus_shards): one that is down must not hide the verdict.
                try:
                    tasks = hook.rebalance_progress(job_id)
                except psycopg2.Error as exc:
                    progress = f"could not read the shard sizes: {pg_message(exc)}"
                else:
                    # A finished job's rate is over its own run time, not until this reading.
                    read_at = row.get("finished_at") or (tasks[0]["read_at"] if tasks else None)
                    progress = compute(tasks, row.get("started_at"), read_at)
    except psycopg2.Error as exc:
        return CheckResult(False, f"could not read citus_rebalance_status() of job {job_id}: {pg_message(exc)}",
                           warning=True)
    result = evaluate(row, job_id, progress)
    result.warning = result.details.get("state") in ("failing", "cancelling") or "retried" in result.message
    return result


@dataclass(frozen=True)
class RebalanceCheck(Check):
    """Rebalance job ``job_id`` on the coordinator ``conn_id`` is finished; failed or cancelled is fatal."""

    name: ClassVar[str] = "citus_rebalance"
    conn_id: str
    job_id: int
    connect_timeout: int = 10
    statement_timeout: float | None = 60

    def take_reading(self) -> CheckResult:
        return read_rebalance(conn_id=self.conn_id, job_id=self.job_id, connect_timeout=self.connect_timeout,
                              statement_timeout=self.statement_timeout)
