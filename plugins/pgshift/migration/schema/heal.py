"""Schema drift healed, additive changes only (``ddl=apply_additive``): what A has and C lacks is made on C, so that
the apply worker a new column stopped goes on, and a new table's rows are copied.

**What is run.** The additive differences' statements (:mod:`.drift`), in their order (functions and types before
the tables that use them, tables before their columns, a serial column's sequence owned once the column is there,
constraints before foreign keys, views last), each on its
own (an enum value must be committed before a default may use it). A statement that fails stops the rest: a later
one may need it; it and the rest stay differences, reported with their statements. The statements are A's
catalog's own text (names quoted by A's server, definitions by ``pg_get_*``), run as they are: there is no
identifier of pgshift's to bind in them.

**Why no row is lost.** The apply worker that met a column C lacks fails its transaction and retries from the
position its slot on B last confirmed (every ``wal_retrieve_retry_interval``); the slot keeps every change after it.
Once the column is on C, the retry applies the transaction. A new table's changes are not applied before the
subscription knows the table; ``ALTER SUBSCRIPTION … REFRESH PUBLICATION`` then copies its rows from B at one
snapshot and applies what comes after, as the first copy did. A table the publication does not carry (a chain of
named ``tables``) is not in the scope either, so it is never compared nor healed.

**Not healed.** A destructive or ambiguous difference (a column or table dropped or renamed on A, a type change, a
different default): never run, reported with its statement, and the cutover refuses until A and C agree. In DMS
mode nothing is run: the task's own handling of DDL and its table mappings decide what reaches C, so the
differences are reported only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgshift.migration.schema.drift import ADDITIVE, Difference, SchemaDrift

if TYPE_CHECKING:
    from pgshift.migration.hooks.target import TargetHook


@dataclass(frozen=True)
class Healing:
    """What :func:`heal_additive` did: the statements run, the one that failed (and its error), and whether the
    subscription was refreshed for new tables."""

    applied: tuple[Difference, ...]
    failed: tuple[Difference, str] | None
    refreshed: bool

    def as_report(self) -> dict[str, Any]:
        return {"applied": [d.as_dict() for d in self.applied], "refreshed_subscription": self.refreshed,
                "failed": None if self.failed is None else {**self.failed[0].as_dict(), "error": self.failed[1]}}


def heal_additive(c: TargetHook, found: SchemaDrift, subscription: str) -> Healing:
    """Run ``found``'s additive statements on C (``c``: connected to the database compared), in order; refresh
    ``subscription`` if a table was created.

    :param c: C, in the database compared
    :param found: the comparison of A and C
    :param subscription: C's subscription to A's changes in that database
    """
    from psycopg2 import sql as pgsql

    applied: list[Difference] = []
    failed: tuple[Difference, str] | None = None
    for difference in found.of_kind(ADDITIVE):
        try:
            c.execute(pgsql.SQL(difference.ddl))
        except Exception as exc:  # noqa: BLE001 - reported with the statement; the rest waits for it
            failed = (difference, str(exc).strip())
            break
        applied.append(difference)
    refreshed = any(d.object.startswith("table ") for d in applied)
    if refreshed:
        c.refresh_subscription(subscription)
    return Healing(tuple(applied), failed, refreshed)
