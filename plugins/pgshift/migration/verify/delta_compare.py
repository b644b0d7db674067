"""The delta check's comparison of changed rows (see :mod:`pgshift.migration.verify.delta`): each side's rows by
primary key, and
the tables checked whole, read in a session per side, then judged table by table."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgshift.migration.verify.parity import Fingerprint, Table, TableParity, table_name

if TYPE_CHECKING:
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.verify.changes import ChangeSet

KEY_CHUNK = 5000  # keys per rows_by_key statement


@dataclass
class SideReading:
    """One server's side of the changed rows: per table the rows by key (key -> row hash), and the fingerprints
    of the tables checked whole (or the error reading one)."""

    rows: dict[Table, dict[str, str]]
    whole: dict[Table, Fingerprint | str]


def read_side(hook: MigrationHook, conn_id: str, changes: ChangeSet, primary_keys: dict[Table, list[str]],
              methods: dict[Table, str], parallelism: int) -> SideReading:
    """The changed rows by key in ``hook``'s session, and the whole tables in sessions of their own."""
    from pgshift.migration.verify.parity import fingerprint

    whole_tables = sorted(changes.whole)
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="pgshift-whole") as pool:
        futures = {t: pool.submit(fingerprint, conn_id, t, methods.get(t, "text")) for t in whole_tables}
        hook.fingerprint_session()
        rows: dict[Table, dict[str, str]] = {}
        for table in sorted(t for t in changes.keys if t not in changes.whole):
            keys = sorted(changes.keys[table])
            found: dict[str, str] = {}
            for i in range(0, len(keys), KEY_CHUNK):
                found.update(hook.rows_by_key(table[0], table[1], primary_keys[table], keys[i:i + KEY_CHUNK]))
            rows[table] = found
        whole: dict[Table, Fingerprint | str] = {}
        for table, future in futures.items():
            try:
                whole[table] = future.result()
            except Exception as exc:  # noqa: BLE001 - a table that cannot be read is a failed comparison
                whole[table] = f"{type(exc).__name__}: {exc}".strip()
    return SideReading(rows, whole)


def judge_changes(changes: ChangeSet, source: SideReading, target: SideReading) -> list[TableParity]:
    """One result per table: the keyed ones, then the whole ones (their note says why they were whole)."""
    results = [_keyed_result(t, len(changes.keys[t]), source.rows[t], target.rows[t]) for t in sorted(source.rows)]
    for table in sorted(changes.whole):
        src, dst = source.whole[table], target.whole[table]
        note = f"checked whole: {changes.whole[table]}"
        if isinstance(src, str) or isinstance(dst, str):
            results.append(TableParity(table_name(table), None, None, None, None, "error",
                                       f"{note}; {src if isinstance(src, str) else dst}"))
            continue
        results.append(TableParity(table_name(table), src[0], src[1], dst[0], dst[1],
                                   "equal" if src == dst else "differs", note))
    return results


def compare_changes(source: MigrationHook, target: MigrationHook, conn_source: str, conn_target: str,
                    changes: ChangeSet, primary_keys: dict[Table, list[str]], methods: dict[Table, str],
                    parallelism: int) -> list[TableParity]:
    """The changed rows, ``source`` against ``target``, both sides at once (see :func:`read_side`)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pgshift-delta") as pool:
        src = pool.submit(read_side, source, conn_source, changes, primary_keys, methods, parallelism)
        dst = pool.submit(read_side, target, conn_target, changes, primary_keys, methods, parallelism)
        return judge_changes(changes, src.result(), dst.result())


def _keyed_result(table: Table, keys: int, source: dict[str, str], target: dict[str, str]) -> TableParity:
    missing = [k for k in source if k not in target]
    extra = [k for k in target if k not in source]
    different = [k for k in source if k in target and target[k] != source[k]]
    name = table_name(table)
    if not (missing or extra or different):
        return TableParity(name, len(source), None, len(target), None, "equal",
                           f"{keys} changed keys compared by primary key ({len(source)} rows present)")
    shown = "; ".join([f"missing on target: {k}" for k in missing[:3]] + [f"only on target: {k}" for k in extra[:3]]
                      + [f"differs: {k}" for k in different[:3]])
    return TableParity(name, len(source), None, len(target), None, "differs",
                       f"{len(missing)} changed rows missing on the target, {len(extra)} only on the target, "
                       f"{len(different)} different ({shown})")
