"""Progress of a Citus rebalance job in bytes, with the rate so far and an ETA.

Citus reports no total for a job: ``citus_rebalance_status()`` details list only the running move, and
``get_rebalance_progress()`` only the shards of that move (transcripts A_16, A_17). So the bytes planned
are the sizes (``citus_shards``) of the shard groups the job's tasks move, and the bytes moved are the
groups of the done tasks plus what the running move has copied (``target_shard_size``, at most the
source's). The rate is bytes moved over the time since the job's ``started_at``, both on the server's
clock; the ETA is what is left at that rate. Pure computations: the reading is done by
:func:`pgshift.citus.status.read_rebalance` with ``citus_rebalance_progress.sql``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

_UNITS = ("kB", "MB", "GB", "TB")


def size_pretty(n: float) -> str:
    """Bytes in PostgreSQL's ``pg_size_pretty`` units (1024-based: kB, MB, GB, TB), one decimal."""
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in _UNITS:
        n /= 1024
        if n < 1024 or unit == _UNITS[-1]:
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def duration_pretty(seconds: float) -> str:
    """``26 s``, ``4 min 10 s``, ``2 h 5 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


@dataclass(frozen=True)
class RebalanceProgress:
    """One reading's figures; None where Citus gave nothing to compute them from.

    ``bytes_planned`` is None when a task's shard size is unknown (``citus_shards`` had no size for it)
    or the job moves no bytes at all; ``rate_bytes_per_s`` is None before the job has started or while
    nothing is moved yet; ``eta_seconds`` is None whenever either is, and 0 once everything is moved.
    """

    moves_done: int
    moves_total: int
    bytes_planned: int | None
    bytes_moved: int | None
    percent: float | None
    elapsed_seconds: float | None
    rate_bytes_per_s: float | None
    eta_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute(tasks: Iterable[Mapping[str, Any]], started_at: datetime | None,
            read_at: datetime | None) -> RebalanceProgress:
    """Figures from the rows of ``citus_rebalance_progress.sql`` (task_id, status, planned_bytes,
    moved_bytes) and the job's ``started_at``, at ``read_at`` (the server's clock)."""
    rows = list(tasks)
    done = sum(1 for r in rows if r["status"] == "done")
    planned_sizes = [int(r["planned_bytes"]) for r in rows if r.get("planned_bytes") is not None]
    planned: int | None = None
    moved: int | None = None
    if rows and len(planned_sizes) == len(rows):
        planned = sum(planned_sizes)
        moved = min(planned, sum(int(r.get("moved_bytes") or 0) for r in rows))
        if planned <= 0:
            planned = moved = None  # empty shards: bytes say nothing about how far the job is
    elapsed = None
    if started_at is not None and read_at is not None:
        elapsed = max(0.0, (read_at - started_at).total_seconds())
    rate = moved / elapsed if moved and elapsed else None
    percent = 100.0 * moved / planned if planned and moved is not None else None
    eta: float | None = None
    if planned is not None and moved is not None:
        if moved >= planned:
            eta = 0.0
        elif rate:
            eta = (planned - moved) / rate
    return RebalanceProgress(moves_done=done, moves_total=len(rows), bytes_planned=planned, bytes_moved=moved,
                             percent=percent, elapsed_seconds=elapsed, rate_bytes_per_s=rate, eta_seconds=eta)


def _percent(p: RebalanceProgress) -> int:
    # Rounded, but never 100 before the last byte is moved.
    shown = round(p.percent or 0)
    return 99 if shown == 100 and (p.bytes_moved or 0) < (p.bytes_planned or 0) else shown


def progress_line(job_id: int, state: str, progress: RebalanceProgress) -> str:
    """``rebalance job 7: 3/8 moves, 41.2 MB of 96.0 MB moved (43%), 2.1 MB/s, ETA 26 s``.

    Without sizes: ``sizes unknown, ETA unknown``; before anything has moved: ``rate unknown, ETA
    unknown``. A job in a terminal state gets no ETA.
    """
    p = progress
    parts = [f"rebalance job {job_id}: {p.moves_done}/{p.moves_total} moves"]
    if p.bytes_planned is None or p.bytes_moved is None:
        parts.append("sizes unknown")
    else:
        parts.append(f"{size_pretty(p.bytes_moved)} of {size_pretty(p.bytes_planned)} moved "
                     f"({_percent(p)}%)")
        parts.append(f"{size_pretty(p.rate_bytes_per_s)}/s" if p.rate_bytes_per_s else "rate unknown")
    if state in ("finished", "failed", "cancelled"):
        took = f" in {duration_pretty(p.elapsed_seconds)}" if p.elapsed_seconds is not None else ""
        parts.append(f"{state}{took}")
    elif p.eta_seconds is None:
        parts.append("ETA unknown")
    else:
        parts.append(f"ETA {duration_pretty(p.eta_seconds)}")
    return ", ".join(parts)
