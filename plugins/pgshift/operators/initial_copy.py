"""Kept path: ``pgshift.operators.initial_copy``, a re-export of
:mod:`pgshift.migration.operators.initial_copy`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.initial_copy import (
    InitialCopyOperator,
)

__all__ = [
    "InitialCopyOperator",
]
