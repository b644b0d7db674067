"""Kept path: ``pgshift.checks.wal_lag``, a re-export of
:mod:`pgshift.migration.checks.wal_lag`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift.
"""

from __future__ import annotations

from pgshift.migration.checks.wal_lag import (
    WalLagCheck,
    check_wal_lag,
    evaluate_wal_lag,
    read_wal_lag,
)

__all__ = [
    "WalLagCheck",
    "check_wal_lag",
    "evaluate_wal_lag",
    "read_wal_lag",
]
