"""Kept path: ``pgshift.operators.validate``, a re-export of
:mod:`pgshift.migration.operators.validate`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.validate import (
    ValidateChainOperator,
)

__all__ = [
    "ValidateChainOperator",
]
