"""Kept path: ``pgshift.operators.subscription``, a re-export of
:mod:`pgshift.migration.operators.subscription`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.subscription import (
    CreateSubscriptionOperator,
)

__all__ = [
    "CreateSubscriptionOperator",
]
