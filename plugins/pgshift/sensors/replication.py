"""Kept path: ``pgshift.sensors.replication``, a re-export of
:mod:`pgshift.migration.sensors.replication`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.sensors.replication import (
    CdcLagSensor,
    DmsTaskRunningSensor,
    SubscriptionSyncedSensor,
    WalLagSensor,
)

__all__ = [
    "CdcLagSensor",
    "DmsTaskRunningSensor",
    "SubscriptionSyncedSensor",
    "WalLagSensor",
]
