"""Kept path: ``pgshift.hooks.target``, a re-export of
:mod:`pgshift.migration.hooks.target`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.hooks.target import (
    TargetHook,
)

__all__ = [
    "TargetHook",
]
