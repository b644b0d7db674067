"""The chain's limits: how the gate and the sensors judge the chain's health.

Derived from the run's :class:`~pgshift.migration.config.ChainConfig` by
:meth:`~pgshift.migration.config.ChainConfig.limits`, under the Params' own names; the checks take their figures from
here (:meth:`pgshift.migration.checks.gate.GateSpec.for_chain`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_POLL_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ChainLimits:
    wal_lag_max_bytes: int  # A -> B, bytes not yet replayed on B
    wal_lag_max_seconds: float  # A -> B, replay lag
    cdc_lag_max_bytes: int  # B -> C, B's replay LSN ahead of the logical slot's confirmed position
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS  # the sensors' interval between readings

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
