"""Kept path: ``pgshift.operators.schema``, a re-export of
:mod:`pgshift.migration.operators.schema`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.schema import (
    CopySchemaOperator,
)

__all__ = [
    "CopySchemaOperator",
]
