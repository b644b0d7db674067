"""Kept path: ``pgshift.operators.fallback``, a re-export of
:mod:`pgshift.migration.operators.fallback`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.fallback import (
    FallbackOperator,
    FinishOperator,
)

__all__ = [
    "FallbackOperator",
    "FinishOperator",
]
