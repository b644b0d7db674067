"""Kept path: ``pgshift.sensors.poll``, a re-export of
:mod:`pgshift.common.sensors.poll`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.common.sensors.poll import (
    PgShiftPollSensor,
)

__all__ = [
    "PgShiftPollSensor",
]
