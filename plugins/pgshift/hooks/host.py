"""Kept path: ``pgshift.hooks.host``, a re-export of
:mod:`pgshift.common.hooks.host`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.common.hooks.host import (
    HostB,
    HostResult,
    local_prefix,
)

__all__ = [
    "HostB",
    "HostResult",
    "local_prefix",
]
