"""Row counts and content hashes compared between two servers, tables in parallel.

A table's fingerprint is ``count(*)`` and the sum of a 64-bit hash of every row: order-independent,
and the same on both sides only if every row is. Rows are hashed with ``hash_record_extended`` (each
column's own hash function, about twice as fast) when every column type has one, else as
``hashtextextended(row::text, 0)``; :func:`hash_methods` decides per table, from A's catalog, so both
sides always use the same one. Sessions are pinned to the same TimeZone, DateStyle and float format
first, so equal values print equally on both servers.

Two ways to compare:

* :func:`compare_still` for a source that cannot change (A fenced): one read per side, both sides
  and all tables in parallel.
* :func:`compare_live` for a source that takes writes (dry run, validation): read the source,
  note its WAL position, wait until the target has confirmed that position, read the target, read
  the source again. Only a table whose source reading did not move in between is judged; a moving
  table is tried again, then reported as not comparable rather than as a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.migration.hooks.base import MigrationHook

Fingerprint = tuple[int, str]
Table = tuple[str, str]  # (schema, name)


def table_name(table: Table) -> str:
    return f"{table[0]}.{table[1]}"


@dataclass
class TableParity:
    table: str
    source_rows: int | None
    source_hash: str | None
    target_rows: int | None
    target_hash: str | None
    status: str  # equal | differs | moving | error
    note: str = ""

    @property
    def equal(self) -> bool:
        return self.status == "equal"

    def describe(self) -> str:
        if self.status == "equal" and self.source_hash is None:
            return f"{self.table}: {self.note}"
        if self.status == "equal":
            return f"{self.table}: {self.source_rows} rows, hash {self.source_hash} on both"
        if self.status == "differs" and self.source_hash is None:  # compared row by row: the note says how
            return f"{self.table}: {self.note}"
        if self.status == "differs":
            return (f"{self.table}: source {self.source_rows} rows / hash {self.source_hash}, "
                    f"target {self.target_rows} rows / hash {self.target_hash}")
        return f"{self.table}: {self.status}: {self.note}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hash_methods(hook: MigrationHook, tables: Iterable[Table]) -> dict[Table, str]:
    """``record`` where hash_record_extended can hash every column of the table, else ``text``."""
    from pgshift.common.sql import qualified

    out = {}
    for table in tables:
        out[table] = "record" if hook.record_hashable(qualified(*table).as_string(hook.live)) else "text"
    return out


def fingerprint(conn_id: str, table: Table, method: str = "text") -> Fingerprint:
    """Count and content hash of one table, in a fresh session with deterministic output settings."""
    from pgshift.migration.hooks.base import MigrationHook

    with MigrationHook(conn_id) as hook:
        hook.fingerprint_session()
        return hook.table_fingerprint(table[0], table[1], method)


def _fingerprints(pool: ThreadPoolExecutor, conn_id: str, tables: Iterable[Table],
                  methods: dict[Table, str] | None) -> dict[Table, Future[Fingerprint]]:
    return {t: pool.submit(fingerprint, conn_id, t, (methods or {}).get(t, "text")) for t in tables}


def _result(table: Table, src: Fingerprint, dst: Fingerprint) -> TableParity:
    status = "equal" if src == dst else "differs"
    return TableParity(table_name(table), src[0], src[1], dst[0], dst[1], status)


def _collect(futures: dict[Table, Future[Fingerprint]]) -> tuple[dict[Table, Fingerprint], dict[Table, str]]:
    values: dict[Table, Fingerprint] = {}
    errors: dict[Table, str] = {}
    for table, future in futures.items():
        try:
            values[table] = future.result()
        except Exception as exc:  # noqa: BLE001 - a table that cannot be read is a failed comparison
            errors[table] = f"{type(exc).__name__}: {exc}".strip()
    return values, errors


def compare_still(conn_source: str, conn_target: str, tables: list[Table], parallelism: int = 4,
                  methods: dict[Table, str] | None = None) -> list[TableParity]:
    """Both sides of every table read at once; valid only while the source cannot change."""
    with ThreadPoolExecutor(max_workers=max(1, parallelism) * 2, thread_name_prefix="pgshift-verify") as pool:
        src_f = _fingerprints(pool, conn_source, tables, methods)
        dst_f = _fingerprints(pool, conn_target, tables, methods)
        src, src_err = _collect(src_f)
        dst, dst_err = _collect(dst_f)
    out = []
    for t in tables:
        if t in src_err or t in dst_err:
            out.append(TableParity(table_name(t), None, None, None, None, "error",
                                   src_err.get(t) or dst_err.get(t, "")))
        else:
            out.append(_result(t, src[t], dst[t]))
    return out


def compare_live(conn_source: str, conn_target: str, tables: list[Table], *, source_position: Callable[[], str],
                 wait_target_confirmed: Callable[[str], None], parallelism: int = 4,
                 attempts: int = 3, methods: dict[Table, str] | None = None) -> list[TableParity]:
    """Compare while the source takes writes (see the module docstring)."""
    results: dict[Table, TableParity] = {}
    pending = list(tables)
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="pgshift-parity") as pool:
        for _ in range(max(1, attempts)):
            if not pending:
                break
            before, err1 = _collect(_fingerprints(pool, conn_source, pending, methods))
            wait_target_confirmed(source_position())
            target, err2 = _collect(_fingerprints(pool, conn_target, pending, methods))
            after, err3 = _collect(_fingerprints(pool, conn_source, pending, methods))
            still_moving = []
            for t in pending:
                err = err1.get(t) or err2.get(t) or err3.get(t)
                if err:
                    results[t] = TableParity(table_name(t), None, None, None, None, "error", err)
                elif before[t] != after[t]:
                    still_moving.append(t)
                    results[t] = TableParity(table_name(t), after[t][0], after[t][1], target[t][0], target[t][1],
                                             "moving",
                                             "the source changed while it was compared; not judged")
                else:
                    results[t] = _result(t, before[t], target[t])
            pending = still_moving
    return [results[t] for t in tables]
