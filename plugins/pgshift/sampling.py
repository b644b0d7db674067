"""Sampled parity: a random sample of B's rows looked up by primary key on C. A is never read.

The same sandwich as :func:`pgshift.parity.compare_live`: sample on B, wait until C has confirmed B's
replay position, read the rows on C, read them on B again; only rows that did not change on B in
between are judged. Tables without a primary key are skipped (``parity=full`` covers them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgshift.parity import Table, table_name
from pgshift.sql import qualified

if TYPE_CHECKING:  # psycopg2 and the postgres provider: loaded where SQL runs, not when a DAG is parsed
    from pgshift.hooks.standby import StandbyHook
    from pgshift.hooks.target import TargetHook


def sample_table(b: StandbyHook, c: TargetHook, table: Table, n: int,
                 wait_target_confirmed: Callable[[str], None]) -> dict[str, Any]:
    name = table_name(table)
    regclass = qualified(*table).as_string(b.live)
    pk = b.primary_key_columns(regclass)
    result: dict[str, Any] = {"table": name, "source_rows": None, "target_rows": None}
    if not pk:
        return {**result, "status": "skipped", "note": "no primary key: sampled parity cannot look rows up"}
    reltuples = b.reltuples(regclass)
    percent = min(100.0, 100.0 * 2 * n / reltuples) if reltuples > 0 else 100.0
    before = b.sample_rows(*table, pk, percent, n)
    if not before:
        return {**result, "status": "equal", "note": "no rows sampled (empty table)", "sampled": 0}
    wait_target_confirmed(str(b.replay_position()))
    keys = list(before)
    on_c = c.rows_by_key(*table, pk, keys)
    after = b.rows_by_key(*table, pk, keys)
    stable = [k for k in before if after.get(k) == before[k]]
    missing = [k for k in stable if k not in on_c]
    different = [k for k in stable if k in on_c and on_c[k] != before[k]]
    result.update({"sampled": len(before), "compared": len(stable), "missing_on_c": len(missing),
                   "different_on_c": len(different)})
    if missing or different:
        shown = "; ".join([f"missing on C: {json.loads(k)}" for k in missing[:3]]
                          + [f"differs on C: {json.loads(k)}" for k in different[:3]])
        return {**result, "status": "differs",
                "note": f"{len(missing)} of {len(stable)} sampled rows missing on C, {len(different)} different "
                        f"({shown})"}
    return {**result, "status": "equal", "note": f"{len(stable)} sampled rows equal on B and C"}


def sample_parity(b: StandbyHook, conn_c: str, tables: list[Table], n: int,
                  wait_target_confirmed: Callable[[str], None]) -> list[dict[str, Any]]:
    from pgshift.hooks.target import TargetHook

    out = []
    with TargetHook(conn_c) as c:
        b.fingerprint_session()
        c.fingerprint_session()
        for table in tables:
            try:
                out.append(sample_table(b, c, table, n, wait_target_confirmed))
            except Exception as exc:  # noqa: BLE001 - one table's failure is reported, the rest go on
                out.append({"table": table_name(table), "status": "error", "source_rows": None,
                            "target_rows": None, "note": f"{type(exc).__name__}: {exc}".strip()})
    return out
