"""One look of the fence watchdog at A: is the cutover that fenced it still alive? (see
:mod:`pgshift.migration.switchover.lease`)."""

from __future__ import annotations

import time
from typing import Any

from pgshift.migration.switchover.fence import FenceRecord, lift_fence
from pgshift.migration.switchover.lease import (
    COMMITTED,
    FENCED,
    READY,
    lease_holder,
    read_marker,
    release_lease,
    take_lease,
)

# What one look found: the cutover is alive, or ended (finished, never fenced), or died (and what was done).
ALIVE, ABSENT, FINISHED, UNFENCED, DIED_COMMITTED = "alive", "absent", "finished", "unfenced", "died_committed"


def look(conn_a: str, run_id: str) -> tuple[str, dict[str, Any]]:
    """Lift the fence of cutover ``run_id`` if its lease is free and it has not passed its point of no return.

    Returns a verdict and the marker's facts. The fence is lifted only while this session holds the lease,
    after reading the marker again under it, so a cutover cannot commit in between.
    """
    from pgshift.migration.hooks.primary import PrimaryHook

    with PrimaryHook(conn_a) as a:
        marker = read_marker(a)
        holder = lease_holder(a)
        if marker is None or marker.run_id != run_id:
            return (ALIVE if holder else ABSENT), {}
        facts: dict[str, Any] = {"fenced_at": marker.fenced_at, "roles": marker.roles, "state": marker.state,
                                 "changed_at": marker.changed_at, "changed_by": marker.changed_by}
        if marker.state == READY:
            return FINISHED, facts
        if holder:
            return ALIVE, facts
        if marker.state == COMMITTED:
            return DIED_COMMITTED, facts
        if not take_lease(a):  # the cutover (or a retry) just took it back
            return ALIVE, facts
        try:
            again = read_marker(a)
            if again is None or again.run_id != run_id or again.state != FENCED:
                return ALIVE, facts  # changed under us: judge it at the next look
            lift_fence(a, FenceRecord.from_marker(a.conn_params()["dbname"], again), by="fence watchdog")
            return UNFENCED, {**facts, "unfenced_at": time.time()}
        finally:
            release_lease(a)
