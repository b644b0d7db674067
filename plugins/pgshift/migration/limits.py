"""The chain's limits: how the gate and the sensors judge the chain's health, typed once.

Built by the ``configuration`` task from the run's values (the DAG params under the recorded chain, see
:mod:`pgshift.migration.configuration`), carried to the tasks in its XCom as :meth:`ChainLimits.as_dict`, and read
back there with :meth:`ChainLimits.from_values`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_POLL_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ChainLimits:
    wal_lag_max_bytes: int  # A -> B, bytes not yet replayed on B
    wal_lag_max_seconds: float  # A -> B, replay lag
    cdc_lag_max_bytes: int  # B -> C, B's replay LSN ahead of the logical slot's confirmed position
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS  # the sensors' interval between readings

    @classmethod
    def from_values(cls, values: ChainLimits | Mapping[str, Any]) -> ChainLimits:
        """From the configuration's values (or this object's :meth:`as_dict`); other keys are ignored. An operator's
        templated ``thresholds`` is either, so a ChainLimits is returned as it is."""
        if isinstance(values, ChainLimits):
            return values
        poll = values.get("poll_interval_seconds")
        return cls(wal_lag_max_bytes=int(values["wal_lag_max_bytes"]),
                   wal_lag_max_seconds=float(values["wal_lag_max_seconds"]),
                   cdc_lag_max_bytes=int(values["cdc_lag_max_bytes"]),
                   poll_interval_seconds=DEFAULT_POLL_INTERVAL_SECONDS if poll is None else float(poll))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
