"""Kept path: ``pgshift.hooks.primary``, a re-export of
:mod:`pgshift.migration.hooks.primary`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.hooks.primary import (
    LeaseKey,
    PrimaryHook,
)

__all__ = [
    "LeaseKey",
    "PrimaryHook",
]
