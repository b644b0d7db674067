"""A wait over every database of a chain of named databases: one check per database, read in one reading.

Why one check of parts rather than a field listing the databases in each check: the parts are the checks a chain
of one database waits for, unchanged (``SubscriptionSyncedCheck`` with the database's qualified ``conn_c`` and its
subscription name, ``CdcLagCheck`` with its slot), so each database's verdict is exactly a single-database
chain's, the per-database names stay :meth:`pgshift.migration.config.ChainConfig.in_database`'s alone (a check
never derives them), and a trigger serialized before several databases existed deserializes as it always did.

A check's fields must be JSON primitives (they travel to the triggerer as they are): the parts are one JSON text,
``[[<database>, {"classpath": ..., "fields": {...}}], ...]``, each rebuilt by
:meth:`~pgshift.common.checks.base.Check.deserialize` (which builds only pgshift checks).

The verdict: done when every part is done; fatal as soon as one part is (waiting cannot help that database);
the message names each database that is not done (or, when all are, each database's message), so a problem in one
database names it; ``details["databases"]`` holds each part's result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult


@dataclass(frozen=True)
class EveryDatabaseCheck(Check):
    """Each database's check (``parts``: JSON, see the module docstring), read one after the other."""

    name: ClassVar[str] = "every_database"
    parts: str

    @classmethod
    def of(cls, parts: Sequence[tuple[str, Check]]) -> EveryDatabaseCheck:
        """The check of ``(database, check)`` pairs, in the chain's order."""
        return cls(parts=json.dumps([[database, check.serialize()] for database, check in parts]))

    def checks(self) -> list[tuple[str, Check]]:
        """The parts, rebuilt."""
        return [(str(database), Check.deserialize(data)) for database, data in json.loads(self.parts)]

    def take_reading(self) -> CheckResult:
        results = [(database, check.read()) for database, check in self.checks()]
        return combine(results)


def combine(results: Sequence[tuple[str, CheckResult]]) -> CheckResult:
    """One verdict of every database's (see the module docstring)."""
    details = {"databases": {database: asdict(result) for database, result in results}}
    fatal = [(d, r) for d, r in results if r.fatal]
    waiting = [(d, r) for d, r in results if not r.done]
    shown = fatal or waiting or list(results)
    message = "; ".join(f"database {database}: {result.message}" for database, result in shown)
    if waiting and not fatal:
        message = f"{len(results) - len(waiting)}/{len(results)} databases done; {message}"
    return CheckResult(done=not waiting, message=message, details=details, fatal=bool(fatal),
                       warning=any(r.warning for _, r in results))
