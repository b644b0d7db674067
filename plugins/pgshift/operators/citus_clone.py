"""Kept path: ``pgshift.operators.citus_clone``, a re-export of
:mod:`pgshift.citus.operators.clone`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.citus.operators.clone import (
    CitusAddClonesOperator,
    CitusCloneBasebackupOperator,
    CitusClonePlanOperator,
    CitusCloneVerifyOperator,
    CitusPromoteClonesOperator,
)

__all__ = [
    "CitusAddClonesOperator",
    "CitusCloneBasebackupOperator",
    "CitusClonePlanOperator",
    "CitusCloneVerifyOperator",
    "CitusPromoteClonesOperator",
]
