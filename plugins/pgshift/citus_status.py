"""Kept path: ``pgshift.citus_status``, a re-export of
:mod:`pgshift.citus.status`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift (RebalanceCheck).
"""

from __future__ import annotations

from pgshift.citus.status import (
    FAILED,
    FINISHED,
    RebalanceCheck,
    evaluate,
    moves_under_way,
    read_rebalance,
    troubled_tasks,
)

__all__ = [
    "FAILED",
    "FINISHED",
    "RebalanceCheck",
    "evaluate",
    "moves_under_way",
    "read_rebalance",
    "troubled_tasks",
]
