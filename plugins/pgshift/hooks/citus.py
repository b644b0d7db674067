"""Kept path: ``pgshift.hooks.citus``, a re-export of
:mod:`pgshift.citus.hook`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.citus.hook import (
    ALREADY_RUNNING,
    LIBPQ_EXTRAS,
    NO_MOVES,
    CitusHook,
    pg_message,
)

__all__ = [
    "ALREADY_RUNNING",
    "LIBPQ_EXTRAS",
    "NO_MOVES",
    "CitusHook",
    "pg_message",
]
