"""Kept path: ``pgshift.citus_status``, a re-export of
:mod:`pgshift.citus.status`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift (RebalanceCheck).
"""

from __future__ import annotations

from pgshift.citus.status import (
    FINISHED,
    FAILED,
    moves_under_way,
    troubled_tasks,
    evaluate,
    read_rebalance,
    RebalanceCheck,
)

__all__ = [
    "FINISHED",
    "FAILED",
    "moves_under_way",
    "troubled_tasks",
    "evaluate",
    "read_rebalance",
    "RebalanceCheck",
]
