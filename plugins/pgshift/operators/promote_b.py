"""Kept path: ``pgshift.operators.promote_b``, a re-export of
:mod:`pgshift.migration.operators.promote_b`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.promote_b import (
    PromoteBOperator,
)

__all__ = [
    "PromoteBOperator",
]
