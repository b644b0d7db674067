"""Kept path: ``pgshift.operators.citus_clone_preflight``, a re-export of
:mod:`pgshift.citus.operators.clone_preflight`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.citus.operators.clone_preflight import (
    HEADROOM,
    check_clones,
    half_promoted,
)

__all__ = [
    "HEADROOM",
    "check_clones",
    "half_promoted",
]
