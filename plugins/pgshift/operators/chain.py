"""Kept path: ``pgshift.operators.chain``, a re-export of
:mod:`pgshift.migration.operators.chain`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.chain import (
    ChainOperator,
)

__all__ = [
    "ChainOperator",
]
