"""Kept path: ``pgshift.operators.roles``, a re-export of
:mod:`pgshift.migration.operators.roles`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.roles import (
    MigrateRolesOperator,
)

__all__ = [
    "MigrateRolesOperator",
]
