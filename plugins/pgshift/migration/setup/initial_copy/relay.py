"""The copy's workers: each streams ranges from B to C, ``COPY ... TO STDOUT`` in one ``psql`` on B piped into
``COPY ... FROM STDIN`` in one ``psql`` on C, in blocks of :data:`BLOCK` bytes that pass through pgshift only to be
counted (never a whole table in memory).

Why two psql processes and not a driver's COPY: libpq hands COPY's output over one row at a time, and a Python loop
over rows ran at about a third of the rate of psql piped into psql (2 M rows: 18.9 s against 7.1 s on this machine).
The connections are in PG* variables (never on a command line). Each range is one ``COPY`` on C, i.e. one
transaction: a range that fails (a session that died) leaves nothing on C and is copied again, up to
:data:`ATTEMPTS` times. Binary COPY where B and C have the same major version and every column's type is built in;
text otherwise.
"""

from __future__ import annotations

import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from psycopg import sql as sql3

from pgshift.common.sql import load

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.setup.initial_copy.plan import CopyRange
    from pgshift.migration.setup.initial_copy.progress import Progress

ATTEMPTS = 3  # per range: the range copied again from the start after a failure
BLOCK = 1 << 20  # bytes read from B's psql and written to C's at a time
SQL_PACKAGE = "pgshift.migration.sql"
COPIED = re.compile(rb"^COPY (\d+)", re.MULTILINE)


class CopyFailed(Exception):
    """A range could not be copied in :data:`ATTEMPTS` attempts (or the copy was stopped)."""


@dataclass(frozen=True)
class Endpoints:
    """How one database's B and C are reached: PG* variables (they hold passwords: never logged), and psql."""

    b: dict[str, str]
    c: dict[str, str]
    psql: str


def statement(name: str, r: CopyRange, fmt: str) -> str:
    """``name``'s SQL with the range's table, its columns, its block bounds and the COPY format bound."""
    if fmt not in ("binary", "text"):
        raise ValueError(f"not a COPY format pgshift uses: {fmt!r}")
    low, high = r.bounds()
    columns = sql3.SQL(", ").join(sql3.Identifier(c) for c in r.source.columns)
    return sql3.SQL(load(name, SQL_PACKAGE)).format(
        table=sql3.Identifier(r.source.schema, r.source.table), columns=columns, format=sql3.SQL(fmt),
        low=sql3.Literal(low), high=sql3.Literal(high)).as_string(None)


def copy_range(r: CopyRange, ends: Endpoints, fmt: str, streamed: Callable[[int], None],
               stop: threading.Event) -> int:
    """One range, B's psql piped into C's; returns the rows C took. Raises CopyFailed with both sides' errors."""
    env_b = {**ends.b, "PGAPPNAME": "pgshift-initial-copy", "PGOPTIONS": "-c row_security=off"}
    # synchronous_commit=off: the copy is flushed on C once, before the slot moves past it
    env_c = {**ends.c, "PGAPPNAME": "pgshift-initial-copy", "PGOPTIONS": "-c synchronous_commit=off"}
    command = [ends.psql, "-X", "-v", "ON_ERROR_STOP=1", "-c"]
    with tempfile.TemporaryFile() as err_b, tempfile.TemporaryFile() as err_c, \
            subprocess.Popen([*command, statement("initial_copy_out", r, fmt)], env=env_b, stdout=subprocess.PIPE,
                             stderr=err_b) as out, \
            subprocess.Popen([*command, statement("initial_copy_in", r, fmt)], env=env_c, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=err_c) as into:
        source: IO[bytes] = out.stdout  # type: ignore[assignment]  # PIPE
        sink: IO[bytes] = into.stdin  # type: ignore[assignment]
        broken = False
        try:
            while chunk := source.read(BLOCK):
                if stop.is_set():
                    out.kill()
                    into.kill()
                    raise CopyFailed("the copy was stopped")
                sink.write(chunk)
                streamed(len(chunk))
        except BrokenPipeError:
            broken = True  # C's psql ended early: its error says why
            out.kill()
        finally:
            try:
                sink.close()
            except BrokenPipeError:
                broken = True
        said = into.stdout.read() if into.stdout else b""
        out.wait()
        into.wait()
        if out.returncode or into.returncode or broken:
            raise CopyFailed(f"B: {_tail(err_b)} / C: {_tail(err_c)}".strip())
    copied = COPIED.search(said)
    return int(copied.group(1)) if copied else 0


def _tail(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode(errors="replace").strip()[-500:] or "-"


def copy_all(ranges: list[CopyRange], workers: int, endpoints: Callable[[CopyRange], Endpoints],
             binary: Callable[[CopyRange], bool], progress: Progress, log: Logger,
             stop: threading.Event) -> None:
    """Every range, ``workers`` at a time, largest first; the first range that fails :data:`ATTEMPTS` times stops the
    others (at their next block) and is raised. ``stop`` set from outside stops them too."""
    todo: queue.Queue[CopyRange] = queue.Queue()
    for r in ranges:
        todo.put(r)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            while not stop.is_set():
                try:
                    r = todo.get_nowait()
                except queue.Empty:
                    return
                fmt = "binary" if binary(r) else "text"
                progress.range_done(r, _with_retries(r, endpoints(r), fmt, progress, log, stop))
        except BaseException as exc:  # noqa: BLE001 - raised by copy_all once every worker has stopped
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=work, name=f"pgshift-copy-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    if stop.is_set():
        raise CopyFailed("the copy was stopped")


def _with_retries(r: CopyRange, ends: Endpoints, fmt: str, progress: Progress, log: Logger,
                  stop: threading.Event) -> int:
    for attempt in range(1, ATTEMPTS + 1):
        streamed = 0

        def count(n: int) -> None:
            nonlocal streamed
            streamed += n
            progress.streamed(r, n)

        try:
            return copy_range(r, ends, fmt, count, stop)
        except CopyFailed as exc:
            progress.streamed(r, -streamed)
            if stop.is_set() or attempt == ATTEMPTS:
                raise CopyFailed(f"range {r.index}/{r.of} of {r.table} ({fmt}), attempt {attempt}: {exc}") from exc
            log.warning("Range %d/%d of %s failed (attempt %d of %d), copied again: %s", r.index, r.of, r.table,
                        attempt, ATTEMPTS, exc)
    raise CopyFailed(f"range {r.index}/{r.of} of {r.table}: no attempt")  # unreachable: ATTEMPTS >= 1
