"""Kept path: ``pgshift.operators.citus``, a re-export of
:mod:`pgshift.citus.operators.scale_out`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.citus.operators.base import CitusBaseOperator, pretty_bytes, text_table
from pgshift.citus.operators.scale_out import (
    CitusAddNodesOperator,
    CitusPreflightOperator,
    CitusRebalancePlanOperator,
    CitusRebalanceStartOperator,
    CitusVerifyOperator,
)

__all__ = [
    "CitusAddNodesOperator",
    "CitusBaseOperator",
    "CitusPreflightOperator",
    "CitusRebalancePlanOperator",
    "CitusRebalanceStartOperator",
    "CitusVerifyOperator",
    "pretty_bytes",
    "text_table",
]
