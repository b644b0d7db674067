"""Kept path: ``pgshift.triggers.sync_guard``, a re-export of :mod:`pgshift.migration.triggers.sync_guard`, where the
code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here; and the provider's ``triggers`` list names the modules under this path.
"""

from __future__ import annotations

from pgshift.migration.triggers.sync_guard import SyncGuardTrigger

__all__ = ["SyncGuardTrigger"]
