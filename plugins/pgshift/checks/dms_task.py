"""Kept path: ``pgshift.checks.dms_task``, a re-export of
:mod:`pgshift.migration.checks.dms_task`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift.
"""

from __future__ import annotations

from pgshift.migration.checks.dms_task import (
    DmsTaskCheck,
    DmsTaskRunningCheck,
)

__all__ = [
    "DmsTaskCheck",
    "DmsTaskRunningCheck",
]
