"""Kept path: ``pgshift.operators.synchronous``, a re-export of
:mod:`pgshift.migration.operators.synchronous`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.synchronous import (
    SyncGuardOperator,
    SynchronousStandbyOperator,
)

__all__ = [
    "SyncGuardOperator",
    "SynchronousStandbyOperator",
]
