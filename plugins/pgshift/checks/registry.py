"""Kept path: ``pgshift.checks.registry``, a re-export of
:mod:`pgshift.common.checks.registry`, where the code lives.

Why it exists: triggers serialized before checks were objects carry a check's old name; this is where that
name was looked up.
"""

from __future__ import annotations

from pgshift.common.checks.registry import (
    CHECK_CLASSPATHS,
    check_class,
    run_check,
)

__all__ = [
    "CHECK_CLASSPATHS",
    "check_class",
    "run_check",
]
