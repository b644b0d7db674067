"""Kept path: ``pgshift.operators.fence_watchdog``, a re-export of
:mod:`pgshift.migration.operators.fence_watchdog`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.fence_watchdog import (
    FenceWatchdogOperator,
)

__all__ = [
    "FenceWatchdogOperator",
]
