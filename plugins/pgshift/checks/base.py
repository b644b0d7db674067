"""Kept path: ``pgshift.checks.base``, a re-export of
:mod:`pgshift.common.checks.base`, where the code lives.

Why it exists: Check and CheckResult are public (pgshift.checks.base.Check) and name serialized checks.
"""

from __future__ import annotations

from pgshift.common.checks.base import (
    JSON_PRIMITIVES,
    Check,
)

__all__ = [
    "JSON_PRIMITIVES",
    "Check",
]
