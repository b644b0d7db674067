"""Kept path: ``pgshift.triggers.poll``, a re-export of
:mod:`pgshift.common.triggers.poll`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here; and serialized triggers name pgshift.triggers.poll.PgShiftPollTrigger.
"""

from __future__ import annotations

from pgshift.common.triggers.poll import (
    PgShiftPollTrigger,
)

__all__ = [
    "PgShiftPollTrigger",
]
