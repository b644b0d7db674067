"""The copy's figures while it runs: per table and in total, rows, bytes, rate and an ETA, said in the task log every
``every`` seconds and kept for the report.

Bytes are what the COPY stream carried (counted as it passes through pgshift), set against the table's size on B;
rows are counted exactly when a range ends (the COPY's row count) and estimated in between from the bytes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.setup.initial_copy.plan import CopyRange

MB = 1024 * 1024


def _mb(n: float) -> str:
    return f"{n / MB:.0f} MB" if n >= 10 * MB else f"{n / MB:.1f} MB"


def _rows(n: float) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n:.0f}"


@dataclass
class TableProgress:
    name: str
    bytes_total: int  # the table's size on B
    rows_estimated: int
    ranges: int
    ranges_done: int = 0
    bytes_done: int = 0  # streamed
    rows_done: int = 0  # of finished ranges
    started: float | None = None
    finished: float | None = None

    def as_dict(self) -> dict[str, Any]:
        seconds = (self.finished or time.monotonic()) - self.started if self.started else 0.0
        return {"table": self.name, "rows": self.rows_done, "bytes_streamed": self.bytes_done,
                "size_on_b": self.bytes_total, "ranges": self.ranges, "seconds": round(seconds, 3),
                "mb_per_second": round(self.bytes_done / MB / seconds, 1) if seconds > 0 else None}


@dataclass
class Progress:
    """Shared by the copy's workers; :meth:`say` logs the figures at most every ``every`` seconds."""

    log: Logger
    every: float = 10.0
    tables: dict[str, TableProgress] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _last: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, ranges: list[CopyRange], log: Logger, every: float = 10.0) -> Progress:
        progress = cls(log, every)
        for r in ranges:
            if r.table not in progress.tables:
                progress.tables[r.table] = TableProgress(r.table, r.source.bytes, r.source.estimated_rows, r.of)
        return progress

    def streamed(self, r: CopyRange, n: int) -> None:
        with self._lock:
            t = self.tables[r.table]
            t.started = t.started or time.monotonic()
            t.bytes_done += n
        if time.monotonic() - self._last >= self.every:
            self.say()

    def range_done(self, r: CopyRange, rows: int) -> None:
        with self._lock:
            t = self.tables[r.table]
            t.started = t.started or time.monotonic()
            t.rows_done += rows
            t.ranges_done += 1
            if t.ranges_done == t.ranges:
                t.finished = time.monotonic()
        if t.finished:
            self.log.info("Copied %s: %s rows, %s in %.1f s", t.name, _rows(t.rows_done), _mb(t.bytes_done),
                          t.finished - (t.started or t.finished))

    def say(self) -> None:
        """One line per table under way, and the total."""
        with self._lock:
            self._last = time.monotonic()
            elapsed = max(1e-6, self._last - self.started)
            lines = [self._line(t, t.started) for t in self.tables.values() if t.started and not t.finished]
            lines.append(self._line(self.total(), self.started, elapsed))
        for line in lines:
            self.log.info("%s", line)

    def total(self) -> TableProgress:
        tables = list(self.tables.values())
        return TableProgress("total", sum(t.bytes_total for t in tables), sum(t.rows_estimated for t in tables),
                             sum(t.ranges for t in tables), sum(t.ranges_done for t in tables),
                             sum(t.bytes_done for t in tables), sum(t.rows_done for t in tables), self.started)

    @staticmethod
    def _line(t: TableProgress, since: float | None, elapsed: float | None = None) -> str:
        seconds = max(1e-6, elapsed if elapsed is not None else time.monotonic() - (since or time.monotonic()))
        rate = t.bytes_done / seconds
        share = min(0.99, t.bytes_done / t.bytes_total) if t.bytes_total else 0.0
        rows = max(t.rows_done, int(t.rows_estimated * share))
        eta = f"ETA {(t.bytes_total - t.bytes_done) / rate:.0f} s" if rate > 0 and t.bytes_total > t.bytes_done \
            else "ETA ?"
        return (f"{t.name}: {_rows(rows)} of {_rows(t.rows_estimated)} rows, {_mb(t.bytes_done)} of "
                f"{_mb(t.bytes_total)}, {rate / MB:.0f} MB/s, {eta} ({t.ranges_done}/{t.ranges} ranges)")

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"tables": [t.as_dict() for t in self.tables.values()], "total": self.total().as_dict()}
