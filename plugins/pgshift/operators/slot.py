"""Kept path: ``pgshift.operators.slot``, a re-export of
:mod:`pgshift.migration.operators.slot`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.slot import (
    PLUGINS,
    LogicalSlotOperator,
    wait_for_replay,
)

__all__ = [
    "PLUGINS",
    "LogicalSlotOperator",
    "wait_for_replay",
]
