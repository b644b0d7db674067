"""Kept path: ``pgshift.sensors.citus``, a re-export of
:mod:`pgshift.citus.sensors`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.citus.sensors import (
    CitusCloneLagSensor,
    CitusRebalanceSensor,
)

__all__ = [
    "CitusCloneLagSensor",
    "CitusRebalanceSensor",
]
