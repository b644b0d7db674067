"""The copy's workers: each holds one session on B and one on C per database and streams ranges from one to the other
(``COPY ... TO STDOUT`` on B into ``COPY ... FROM STDIN`` on C, chunk by chunk, never a whole table in memory).

psycopg 3 (a dependency of the postgres provider) is used here rather than psycopg2 because its COPY is a
stream in both directions from one thread. Each range is one transaction on C: a range that fails (a session that
died) leaves nothing on C and is tried again with new sessions, up to :data:`ATTEMPTS` times. Binary COPY where B and
C have the same major version and every column's type is built in; text otherwise.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql as sql3

from pgshift.common.sql import load

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.setup.initial_copy.plan import CopyRange
    from pgshift.migration.setup.initial_copy.progress import Progress

ATTEMPTS = 3  # per range: a session that died is replaced, the range copied again from the start
SQL_PACKAGE = "pgshift.migration.sql"


class CopyFailed(Exception):
    """A range could not be copied in :data:`ATTEMPTS` attempts (or the copy was stopped)."""


@dataclass(frozen=True)
class Endpoints:
    """The libpq connection strings of one database's B and C (they hold passwords: never logged)."""

    b: str
    c: str


def statement(name: str, r: CopyRange, fmt: str) -> sql3.Composed:
    """``name``'s SQL with the range's table, its columns and the COPY format bound."""
    if fmt not in ("binary", "text"):
        raise ValueError(f"not a COPY format pgshift uses: {fmt!r}")
    columns = sql3.SQL(", ").join(sql3.Identifier(c) for c in r.source.columns)
    return sql3.SQL(load(name, SQL_PACKAGE)).format(
        table=sql3.Identifier(r.source.schema, r.source.table), columns=columns, format=sql3.SQL(fmt))


class Worker:
    """One copy worker's sessions (one pair per database), opened when first needed and replaced after an error."""

    def __init__(self, endpoints: Callable[[CopyRange], Endpoints], binary: Callable[[CopyRange], bool]) -> None:
        self._endpoints, self._binary = endpoints, binary
        self._sessions: dict[Endpoints, tuple[psycopg.Connection, psycopg.Connection]] = {}

    def copy(self, r: CopyRange, streamed: Callable[[int], None]) -> int:
        """One range, in one transaction on C; returns the rows copied."""
        b, c = self._pair(self._endpoints(r))
        fmt = "binary" if self._binary(r) else "text"
        low, high = r.bounds()
        with c.transaction(), c.cursor() as into, b.cursor() as out:
            with into.copy(statement("initial_copy_in", r, fmt)) as sink, \
                    out.copy(statement("initial_copy_out", r, fmt), {"low": low, "high": high}) as source:
                for chunk in source:
                    sink.write(chunk)
                    streamed(len(chunk))
            return max(0, into.rowcount)

    def reset(self) -> None:
        """Close every session (after an error: the next range opens new ones)."""
        for pair in self._sessions.values():
            for conn in pair:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - a dead session may fail to close; it is dropped anyway
                    pass
        self._sessions.clear()

    def _pair(self, ends: Endpoints) -> tuple[psycopg.Connection, psycopg.Connection]:
        if ends not in self._sessions:
            # row_security=off on B: a policy hiding rows is an error, not a silently short copy (as the
            # subscription's). synchronous_commit=off on C: the data is flushed once before the slot moves.
            b = psycopg.connect(ends.b, autocommit=True, application_name="pgshift-initial-copy",
                                options="-c row_security=off -c default_transaction_read_only=on")
            c = psycopg.connect(ends.c, application_name="pgshift-initial-copy", options="-c synchronous_commit=off")
            self._sessions[ends] = (b, c)
        return self._sessions[ends]


def copy_all(ranges: list[CopyRange], workers: int, endpoints: Callable[[CopyRange], Endpoints],
             binary: Callable[[CopyRange], bool], progress: Progress, log: Logger,
             stop: threading.Event) -> None:
    """Every range, ``workers`` at a time, largest first; the first range that fails :data:`ATTEMPTS` times stops the
    others (at their next range) and is raised. ``stop`` set from outside stops them too."""
    todo: queue.Queue[CopyRange] = queue.Queue()
    for r in ranges:
        todo.put(r)
    failures: list[BaseException] = []

    def work() -> None:
        worker = Worker(endpoints, binary)
        try:
            while not stop.is_set():
                try:
                    r = todo.get_nowait()
                except queue.Empty:
                    return
                progress.range_done(r, _with_retries(worker, r, progress, log, stop))
        except BaseException as exc:  # noqa: BLE001 - raised by copy_all once every worker has stopped
            failures.append(exc)
            stop.set()
        finally:
            worker.reset()

    threads = [threading.Thread(target=work, name=f"pgshift-copy-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    if stop.is_set():
        raise CopyFailed("the copy was stopped")


def _with_retries(worker: Worker, r: CopyRange, progress: Progress, log: Logger, stop: threading.Event) -> int:
    for attempt in range(1, ATTEMPTS + 1):
        if stop.is_set():
            raise CopyFailed("the copy was stopped")
        streamed = 0

        def count(n: int) -> None:
            nonlocal streamed
            streamed += n
            progress.streamed(r, n)

        try:
            return worker.copy(r, count)
        except psycopg.OperationalError as exc:  # a session died: the range's transaction on C is gone with it
            progress.streamed(r, -streamed)
            worker.reset()
            log.warning("Range %d/%d of %s failed (attempt %d of %d), copied again with new sessions: %s", r.index,
                        r.of, r.table, attempt, ATTEMPTS, str(exc).strip().splitlines()[0] if str(exc) else exc)
    raise CopyFailed(f"range {r.index}/{r.of} of {r.table} failed {ATTEMPTS} times")
