"""Kept path: ``pgshift.operators.publication``, a re-export of
:mod:`pgshift.migration.operators.publication`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.publication import (
    CreatePublicationOperator,
)

__all__ = [
    "CreatePublicationOperator",
]
