"""Kept path: ``pgshift.hooks.postgres``, a re-export of
:mod:`pgshift.common.hooks.postgres`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.common.hooks.postgres import (
    ConnParams,
    Params,
    PgShiftHook,
    Row,
)

__all__ = [
    "ConnParams",
    "Params",
    "PgShiftHook",
    "Row",
]
