"""Kept path: ``pgshift.operators.basebackup``, a re-export of
:mod:`pgshift.migration.operators.basebackup`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.operators.basebackup import (
    SCRIPT,
    BasebackupOperator,
    script_text,
)

__all__ = [
    "SCRIPT",
    "BasebackupOperator",
    "script_text",
]
