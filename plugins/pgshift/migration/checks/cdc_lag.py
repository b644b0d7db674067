"""B -> C: the logical slot's confirmed position against B's replay position, read on B."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult

INVALIDATED_HELP = (
    "The slot can no longer be used: C would miss changes. Drop it on B "
    "(SELECT pg_drop_replication_slot(...)), make sure B runs with hot_standby_feedback=on and streams "
    "through a physical slot on A, and set the B -> C leg up again from scratch (C re-copies every table)."
)


def slot_invalidation(slot: dict[str, Any]) -> str | None:
    """Why a slot is unusable, or None."""
    if slot.get("conflicting") or slot.get("invalidation_reason") or slot.get("wal_status") == "lost":
        return (f"logical slot {slot['slot_name']!r} on B is invalidated "
                f"(conflicting={slot.get('conflicting')}, invalidation_reason={slot.get('invalidation_reason')}, "
                f"wal_status={slot.get('wal_status')})")
    return None


def check_cdc_lag(conn_b: str, slot: str, max_bytes: int, require_active: bool = True) -> CheckResult:
    from pgshift.migration.hooks.standby import StandbyHook

    with StandbyHook(conn_b) as b:
        state = b.logical_slot(slot)
    if state is None:
        return CheckResult(False, f"B has no replication slot {slot!r}", fatal=True)
    st = asdict(state)  # the figures go into the result's details; slot_invalidation reads a dict
    details = {k: st[k] for k in ("active", "wal_status", "safe_wal_size", "conflicting", "invalidation_reason",
                                  "confirmed_flush_lsn", "replay_lsn", "lag_bytes", "retained_bytes")}
    invalid = slot_invalidation(st)
    if invalid:
        return CheckResult(False, f"{invalid}. {INVALIDATED_HELP}", details, fatal=True)
    problems = []
    if require_active and not st["active"]:
        problems.append(f"nothing is consuming slot {slot!r} on B (inactive): its lag figure means nothing")
    if st["lag_bytes"] is None:
        problems.append(f"slot {slot!r} has no confirmed position yet")
    elif st["lag_bytes"] > max_bytes:
        problems.append(f"B->C lag {st['lag_bytes']} bytes is over the threshold of {max_bytes} bytes")
    if problems:
        return CheckResult(False, "; ".join(problems), details)
    return CheckResult(True, f"B->C lag on slot {slot!r}: {st['lag_bytes']} bytes", details)


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
