"""Kept path: ``pgshift.operators.cutover``, a re-export of
:mod:`pgshift.migration.operators.cutover`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.cutover import (
    CutoverGateOperator,
    CutoverOperator,
)

__all__ = [
    "CutoverGateOperator",
    "CutoverOperator",
]
