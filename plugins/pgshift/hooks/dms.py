"""Provider path: ``pgshift.hooks.dms``, a re-export of
:mod:`pgshift.migration.hooks.dms`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.hooks.dms import (
    WAITERS,
    PgShiftDmsHook,
)

__all__ = [
    "WAITERS",
    "PgShiftDmsHook",
]
