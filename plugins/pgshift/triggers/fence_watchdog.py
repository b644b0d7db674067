"""Kept path: ``pgshift.triggers.fence_watchdog``, a re-export of
:mod:`pgshift.migration.triggers.fence_watchdog`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here; and serialized triggers name its FenceWatchdogTrigger.
"""

from __future__ import annotations

from pgshift.migration.triggers.fence_watchdog import (
    FenceWatchdogTrigger,
    log,
)

__all__ = [
    "FenceWatchdogTrigger",
    "log",
]
