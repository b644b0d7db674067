"""B -> C: the logical slot's confirmed position against B's replay position, read on B."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult
from pgshift.migration.checks.slot import SlotWords, slot_lag_reading

INVALIDATED_HELP = (
    "The slot can no longer be used: C would miss changes. Drop it on B "
    "(SELECT pg_drop_replication_slot(...)), make sure B runs with hot_standby_feedback=on and streams "
    "through a physical slot on A, and set the B -> C leg up again from scratch (C re-copies every table)."
)

B_SLOT = SlotWords(
    missing="B has no replication slot {slot}",
    invalidated="logical slot {slot} on B is invalidated (conflicting={conflicting}, invalidation_reason="
                "{invalidation_reason}, wal_status={wal_status}). " + INVALIDATED_HELP,
    inactive="nothing is consuming slot {slot} on B (inactive): its lag figure means nothing",
    unconfirmed="slot {slot} has no confirmed position yet",
    lagging="B->C lag {lag} bytes is over the threshold of {limit} bytes",
    in_bounds="B->C lag on slot {slot}: {lag} bytes",
    unreserved="slot {slot} on B is unreserved: its WAL is about to be removed (max_slot_wal_keep_size); C must "
               "catch up now",
    near_loss="slot {slot} on B is {safe} bytes from losing its WAL (floor {floor})",
    retained="slot {slot} keeps {retained} bytes of WAL on B (limit {limit})",
)
"""The chain's slot on B, read by C (its subscription, or DMS)."""


def check_cdc_lag(conn_b: str, slot: str, max_bytes: int, require_active: bool = True) -> CheckResult:
    from pgshift.migration.hooks.standby import StandbyHook

    with StandbyHook(conn_b) as b:
        state = b.logical_slot(slot)
    return slot_lag_reading(state, slot, B_SLOT, max_bytes, require_active)


@dataclass(frozen=True)
class CdcLagCheck(Check):
    """B -> C: the logical slot ``slot`` on B is consumed and trails B's replay LSN by at most ``max_bytes``."""

    name: ClassVar[str] = "cdc_lag"
    conn_b: str
    slot: str
    max_bytes: int
    require_active: bool = True

    def take_reading(self) -> CheckResult:
        return check_cdc_lag(self.conn_b, self.slot, self.max_bytes, self.require_active)
