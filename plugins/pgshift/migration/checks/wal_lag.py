"""A -> B: is B streaming from A on the expected slot, with lag under thresholds?"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.lag import evaluate_wal_lag
from pgshift.common.checks.result import CheckResult

# evaluate_wal_lag's old home: callers still import it from here
__all__ = ["WalLagCheck", "check_wal_lag", "evaluate_wal_lag", "read_wal_lag"]


def read_wal_lag(conn_a: str, conn_b: str, physical_slot: str) -> dict[str, Any]:
    """Figures from both ends: A's walsender for the slot, B's WAL receiver and LSNs (as dicts: they
    are the check's XCom value)."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook

    with PrimaryHook(conn_a) as a:
        sender = a.wal_sender(physical_slot)
    with StandbyHook(conn_b) as b:
        receiver = b.wal_receiver()
    return {"a": None if sender is None else asdict(sender), "b": asdict(receiver)}


def check_wal_lag(conn_a: str, conn_b: str, physical_slot: str, max_bytes: int, max_seconds: float) -> CheckResult:
    return evaluate_wal_lag(read_wal_lag(conn_a, conn_b, physical_slot), physical_slot, max_bytes, max_seconds)


@dataclass(frozen=True)
class WalLagCheck(Check):
    """A -> B: B streams from A through ``physical_slot`` with lag under ``max_bytes`` and ``max_seconds``."""

    name: ClassVar[str] = "wal_lag"
    conn_a: str
    conn_b: str
    physical_slot: str
    max_bytes: int
    max_seconds: float

    def take_reading(self) -> CheckResult:
        return check_wal_lag(self.conn_a, self.conn_b, self.physical_slot, self.max_bytes, self.max_seconds)
