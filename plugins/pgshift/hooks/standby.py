"""Kept path: ``pgshift.hooks.standby``, a re-export of
:mod:`pgshift.migration.hooks.standby`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.hooks.standby import (
    StandbyHook,
)

__all__ = [
    "StandbyHook",
]
