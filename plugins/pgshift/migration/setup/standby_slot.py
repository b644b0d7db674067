"""A logical slot created on the standby B with A's help, and never left half-made.

Creation on a standby waits for a running-xacts record from the primary, which an idle primary never writes:
while it waits, A gets ``pg_log_standby_snapshot()`` every ``nudge_every`` seconds. Given up, the call is
cancelled and the slot that would otherwise appear later as an orphan is dropped.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.states import CreatedSlot


class SlotCreationError(Exception):
    """The slot could not be created (any half-made one was dropped, as the message says)."""


def create_on_standby(a: PrimaryHook, b: StandbyHook, name: str, plugin: str, timeout: float,
                      nudge_every: float = 0.5) -> tuple[CreatedSlot, int]:
    """Create logical slot ``name`` on B (in a session of its own) while nudging A; returns it and the nudges."""
    from pgshift.migration.hooks.standby import StandbyHook

    creator = StandbyHook(b.conn_ref)
    created: list[CreatedSlot] = []
    errors: list[Exception] = []

    def create() -> None:
        try:
            created.append(creator.create_logical_slot(name, plugin))
        except Exception as exc:  # noqa: BLE001 - reported by the calling thread
            errors.append(exc)

    worker = threading.Thread(target=create, name=f"create-slot-{name}", daemon=True)
    worker.start()
    nudges = 0
    deadline = time.monotonic() + timeout
    while worker.is_alive() and time.monotonic() < deadline:
        worker.join(max(0.0, min(nudge_every, deadline - time.monotonic())))
        if worker.is_alive() and time.monotonic() < deadline:
            a.log_standby_snapshot()
            nudges += 1
    if worker.is_alive():
        creator.live.cancel()
        worker.join(30)
        creator.close()
        dropped = drop_orphan(b, name)
        raise SlotCreationError(
            f"creating slot {name!r} on B did not finish within {timeout:g} s despite {nudges} nudges of A; "
            f"{'the half-made slot was dropped' if dropped else 'no slot was left'}")
    creator.close()
    if errors or not created:
        drop_orphan(b, name)
        raise SlotCreationError(f"creating slot {name!r} on B failed: {errors[0] if errors else 'no row'}")
    return created[0], nudges


def drop_orphan(b: StandbyHook, name: str, wait: float = 10) -> bool:
    """Drop slot ``name`` once nothing uses it (a creator that gave up may still make it appear); True if dropped."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if b.drop_inactive_slot(name):
            return True
        if b.logical_slot(name) is None:
            return False
        time.sleep(0.2)
    return False
