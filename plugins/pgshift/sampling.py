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
    from pgshift.hooks.postgres import PgShiftHook


def _rows(hook: PgShiftHook, query: str, params: dict[str, Any], table: Table,
          pk: list[str]) -> dict[str, str]:
    from psycopg2 import sql as pgsql

    rows = hook.fetch(query, params, table=qualified(*table),
                      pk_columns=pgsql.SQL(", ").join(pgsql.Identifier(c) for c in pk))
    return {r["key"]: r["hash"] for r in rows}


def sample_table(b: PgShiftHook, c: PgShiftHook, table: Table, n: int,
                 wait_target_confirmed: Callable[[str], None]) -> dict[str, Any]:
    name = table_name(table)
    regclass = qualified(*table).as_string(b.live)
    pk = [r["column"] for r in b.fetch("primary_key_columns", (regclass,))]
    result: dict[str, Any] = {"table": name, "source_rows": None, "target_rows": None}
    if not pk:
        return {**result, "status": "skipped", "note": "no primary key: sampled parity cannot look rows up"}
    reltuples = b.scalar("reltuples", (regclass,)) or 0
    percent = min(100.0, 100.0 * 2 * n / reltuples) if reltuples > 0 else 100.0
    before = _rows(b, "sample_rows", {"pk": pk, "percent": percent, "n": n}, table, pk)
    if not before:
        return {**result, "status": "equal", "note": "no rows sampled (empty table)", "sampled": 0}
    wait_target_confirmed(b.scalar("replay_position"))
    keys = {"pk": pk, "keys": "[" + ",".join(before) + "]"}
    on_c = _rows(c, "rows_by_key", keys, table, pk)
    after = _rows(b, "rows_by_key", keys, table, pk)
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


def sample_parity(b: PgShiftHook, conn_c: str, tables: list[Table], n: int,
                  wait_target_confirmed: Callable[[str], None]) -> list[dict[str, Any]]:
    from pgshift.hooks.postgres import PgShiftHook

    out = []
    with PgShiftHook(conn_c) as c:
        b.execute("fingerprint_session")
        c.execute("fingerprint_session")
        for table in tables:
            try:
                out.append(sample_table(b, c, table, n, wait_target_confirmed))
            except Exception as exc:  # noqa: BLE001 - one table's failure is reported, the rest go on
                out.append({"table": table_name(table), "status": "error", "source_rows": None,
                            "target_rows": None, "note": f"{type(exc).__name__}: {exc}".strip()})
    return out
