"""Kept path: ``pgshift.operators.preflight``, a re-export of
:mod:`pgshift.migration.operators.preflight`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.preflight import (
    ChainPreflightOperator,
)

__all__ = [
    "ChainPreflightOperator",
]
