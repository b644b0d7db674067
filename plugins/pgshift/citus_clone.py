"""Kept path: ``pgshift.citus_clone``, a re-export of
:mod:`pgshift.citus.clone`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift (CloneLagCheck).
"""

from __future__ import annotations

from pgshift.citus.clone import (
    BLOCKING_WINDOW_SECONDS,
    CATCHUP_POLL_SECONDS,
    CloneLagCheck,
    blocking_window_text,
    clone_lag_check,
    data_dir_for,
    slot_name,
)

__all__ = [
    "BLOCKING_WINDOW_SECONDS",
    "CATCHUP_POLL_SECONDS",
    "CloneLagCheck",
    "blocking_window_text",
    "clone_lag_check",
    "data_dir_for",
    "slot_name",
]
