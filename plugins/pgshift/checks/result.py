"""Kept path: ``pgshift.checks.result``, a re-export of
:mod:`pgshift.common.checks.result`, where the code lives.

Why it exists: Check and CheckResult are public (pgshift.checks.result.CheckResult).
"""

from __future__ import annotations

from pgshift.common.checks.result import (
    CheckResult,
)

__all__ = [
    "CheckResult",
]
