"""Sampled parity: a random sample of the source's rows looked up by primary key on the target.

The chain's validation samples B and looks the rows up on C (A is never read); after the cutover, the way
back's validation samples C and looks them up on A. The same sandwich as
:func:`pgshift.migration.verify.parity.compare_live`:
sample on the source, wait until the target has confirmed the source's position, read the rows on the target,
read them on the source again; only rows that did not change on the source in between are judged. Tables
without a primary key are skipped (``parity=full`` covers them on the chain).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgshift.common.sql import qualified
from pgshift.migration.verify.parity import Table, table_name

if TYPE_CHECKING:  # psycopg2 and the postgres provider: loaded where SQL runs, not when a DAG is parsed
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.hooks.standby import StandbyHook

CHAIN = ("B", "C")  # (source, target) as the report and its notes name them
WAY_BACK = ("C", "A")


def sample_table(source: MigrationHook, target: MigrationHook, table: Table, n: int, position: Callable[[], str],
                 wait_target_confirmed: Callable[[str], None], sides: tuple[str, str] = CHAIN) -> dict[str, Any]:
    """One table: ``position()`` is the source's WAL position after sampling, which ``wait_target_confirmed``
    waits for the target to confirm."""
    src, tgt = sides
    name = table_name(table)
    regclass = qualified(*table).as_string(source.live)
    pk = source.primary_key_columns(regclass)
    result: dict[str, Any] = {"table": name, "source_rows": None, "target_rows": None}
    if not pk:
        return {**result, "status": "skipped", "note": "no primary key: sampled parity cannot look rows up"}
    reltuples = source.reltuples(regclass)
    percent = min(100.0, 100.0 * 2 * n / reltuples) if reltuples > 0 else 100.0
    before = source.sample_rows(*table, pk, percent, n)
    if not before:
        return {**result, "status": "equal", "note": "no rows sampled (empty table)", "sampled": 0}
    wait_target_confirmed(position())
    keys = list(before)
    on_target = target.rows_by_key(*table, pk, keys)
    after = source.rows_by_key(*table, pk, keys)
    stable = [k for k in before if after.get(k) == before[k]]
    missing = [k for k in stable if k not in on_target]
    different = [k for k in stable if k in on_target and on_target[k] != before[k]]
    result.update({"sampled": len(before), "compared": len(stable), f"missing_on_{tgt.lower()}": len(missing),
                   f"different_on_{tgt.lower()}": len(different)})
    if missing or different:
        shown = "; ".join([f"missing on {tgt}: {json.loads(k)}" for k in missing[:3]]
                          + [f"differs on {tgt}: {json.loads(k)}" for k in different[:3]])
        return {**result, "status": "differs",
                "note": f"{len(missing)} of {len(stable)} sampled rows missing on {tgt}, {len(different)} different "
                        f"({shown})"}
    return {**result, "status": "equal", "note": f"{len(stable)} sampled rows equal on {src} and {tgt}"}


def sample_between(source: MigrationHook, target: MigrationHook, tables: list[Table], n: int,
                   position: Callable[[], str], wait_target_confirmed: Callable[[str], None],
                   sides: tuple[str, str] = CHAIN) -> list[dict[str, Any]]:
    """:func:`sample_table` for each table; one table's failure is its result (``error``), the rest go on."""
    out = []
    source.fingerprint_session()
    target.fingerprint_session()
    for table in tables:
        try:
            out.append(sample_table(source, target, table, n, position, wait_target_confirmed, sides))
        except Exception as exc:  # noqa: BLE001 - one table's failure is reported, the rest go on
            out.append({"table": table_name(table), "status": "error", "source_rows": None,
                        "target_rows": None, "note": f"{type(exc).__name__}: {exc}".strip()})
    return out


def sample_parity(b: StandbyHook, conn_c: str, tables: list[Table], n: int,
                  wait_target_confirmed: Callable[[str], None],
                  position: Callable[[], str] | None = None) -> list[dict[str, Any]]:
    """The chain: B's rows looked up on C, once C has confirmed B's replay position (``position``, if given: a
    promoted B's own)."""
    from pgshift.migration.hooks.target import TargetHook

    with TargetHook(conn_c) as c:
        return sample_between(b, c, tables, n, position or (lambda: str(b.replay_position())),
                              wait_target_confirmed, CHAIN)


def parity_findings(results: list[dict[str, Any]], label: str, tables: int, seconds: float, problems: list[str],
                    notes: list[str], counted: tuple[str, str] | None = None) -> None:
    """What a validation says of parity results (sampled, or :mod:`pgshift.migration.verify.frozen`'s): a table
    that differs or could not be read is a problem, one that kept moving or was skipped a note, and a last note says
    how long the ``tables`` compared took (a frozen point that failed is one result for them all). ``label`` names
    the comparison (``sample``, ``full``, ``sample, C vs A``); ``counted``: the sides' names when the results carry
    row counts worth quoting (``parity=full``)."""
    for r in results:
        if r["status"] in ("differs", "error"):
            counts = (f" ({counted[0]} {r['source_rows']} rows, {counted[1]} {r['target_rows']})"
                      if counted and r["source_rows"] is not None else "")
            problems.append(f"parity ({label}): {r['table']}: {r.get('note') or r['status']}{counts}")
        elif r["status"] in ("moving", "skipped"):
            notes.append(f"parity ({label}): {r['table']}: {r['status']}: {r.get('note', '')}")
    notes.append(f"parity ({label}) over {tables} tables in {seconds:.2f} s")
