"""Kept path: ``pgshift.hooks.fallback``, a re-export of
:mod:`pgshift.migration.hooks.fallback`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.hooks.fallback import (
    WayBackHook,
)

__all__ = [
    "WayBackHook",
]
