"""Kept path: ``pgshift.operators.dms``, a re-export of
:mod:`pgshift.migration.operators.dms`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.dms import (
    TASK_SETTINGS,
    DmsBaseOperator,
    DmsEndpointsOperator,
    DmsReplicationInstanceOperator,
    DmsReplicationTaskOperator,
    DmsStartTaskOperator,
    DmsWaitingOperator,
    task_settings,
)

__all__ = [
    "TASK_SETTINGS",
    "DmsBaseOperator",
    "DmsEndpointsOperator",
    "DmsReplicationInstanceOperator",
    "DmsReplicationTaskOperator",
    "DmsStartTaskOperator",
    "DmsWaitingOperator",
    "task_settings",
]
