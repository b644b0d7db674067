"""Kept path: ``pgshift.checks.cdc_lag``, a re-export of
:mod:`pgshift.migration.checks.cdc_lag`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift.
"""

from __future__ import annotations

from pgshift.migration.checks.cdc_lag import (
    INVALIDATED_HELP,
    CdcLagCheck,
    check_cdc_lag,
)

__all__ = [
    "INVALIDATED_HELP",
    "CdcLagCheck",
    "check_cdc_lag",
]
