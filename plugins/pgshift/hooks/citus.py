"""Kept path: ``pgshift.hooks.citus``, a re-export of
:mod:`pgshift.citus.hook`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.citus.hook import (
    LIBPQ_EXTRAS,
    ALREADY_RUNNING,
    NO_MOVES,
    pg_message,
    CitusHook,
)

__all__ = [
    "LIBPQ_EXTRAS",
    "ALREADY_RUNNING",
    "NO_MOVES",
    "pg_message",
    "CitusHook",
]
