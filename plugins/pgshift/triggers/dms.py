"""Provider path: ``pgshift.triggers.dms``, a re-export of
:mod:`pgshift.migration.triggers.dms`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.triggers.dms import (
    DmsInstanceAvailableTrigger,
    DmsTaskFullLoadTrigger,
    DmsTaskReadyTrigger,
    DmsWaiterTrigger,
)

__all__ = [
    "DmsInstanceAvailableTrigger",
    "DmsTaskFullLoadTrigger",
    "DmsTaskReadyTrigger",
    "DmsWaiterTrigger",
]
