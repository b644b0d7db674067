"""Validation once B was promoted (``action=promote_b``, A lost): B is the chain's source and a primary, so its slot's
lag is measured from B's own position (its replay position stands still after the promotion)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgshift.common.checks.result import CheckResult
    from pgshift.migration.config import ChainConfig


def promoted_slot_reading(part: ChainConfig) -> CheckResult:
    """The cdc_lag check's reading of ``part``'s slot on the promoted B, from ``pg_current_wal_lsn()``."""
    from pgshift.migration.checks.cdc_lag import B_SLOT
    from pgshift.migration.checks.slot import slot_lag_reading
    from pgshift.migration.hooks.standby import StandbyHook

    with StandbyHook(part.conn_b) as b:
        state = b.slot_state(part.slot_name, "current")
    return slot_lag_reading(state, part.slot_name, B_SLOT, part.cdc_lag_max_bytes)
