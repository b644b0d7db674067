"""A retry never fences A again: it finds what an earlier attempt of the same run left, and says so.

A itself is asked first (the fence marker, see :mod:`pgshift.migration.switchover.lease`): the watchdog may already
have lifted
the fence, and the fence record file may be on another worker's disk.
"""

from __future__ import annotations

import time
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.cutover.results import iso
from pgshift.migration.switchover.fence import FenceRecord, lift_fence
from pgshift.migration.switchover.lease import COMMITTED, FENCED, READY, lease_holder, read_marker, take_lease


def recover_interrupted_attempt(conn_a: str, run_id: str, fence_path: Path) -> None:
    """Return if no earlier attempt of ``run_id`` left anything; else undo what can be undone and fail."""
    from pgshift.migration.hooks.primary import PrimaryHook

    with PrimaryHook(conn_a) as a:
        marker = read_marker(a)
        if marker and marker.run_id == run_id:
            fenced_at = iso(marker.fenced_at)
            if marker.state == FENCED:
                if not take_lease(a):
                    holder = lease_holder(a) or {}
                    raise AirflowFailException(
                        f"An earlier attempt of this cutover fenced A at {fenced_at} and still holds the lease "
                        f"(backend pid {holder.get('pid')}): it is alive, so A is left to it")
                lift_fence(a, FenceRecord.from_marker(a.conn_params()["dbname"], marker), by="retry")
                raise AirflowFailException(
                    f"An earlier attempt of this cutover died after fencing A at {fenced_at}; this retry "
                    f"unfenced A at {iso(time.time())} (roles {', '.join(marker.roles) or 'none'} can log in "
                    "again). Trigger a new cutover run.")
            if marker.state == COMMITTED:
                raise AirflowFailException(
                    f"An earlier attempt of this cutover fenced A at {fenced_at} and passed the point of no "
                    f"return at {iso(marker.changed_at)} (C verified, sequences set) before it died: A stays "
                    "fenced. Finish it (native: DROP SUBSCRIPTION on C; dms: stop the task) or lift the fence "
                    "by hand; see the README's cutover section.")
            if marker.state == READY:
                raise AirflowFailException(f"This run already finalized the cutover (C is ready since "
                                           f"{iso(marker.changed_at)}); A stays fenced.")
    previous = FenceRecord.load(fence_path)
    if previous and previous.state in ("planned", "fenced"):
        with PrimaryHook(conn_a) as a:
            # The marker is gone (lifted) or was never written: lift what the record says, unless a newer
            # cutover owns A's fence now or a cutover is alive.
            marker, live = read_marker(a), lease_holder(a)
            if live or (marker and marker.run_id != run_id):
                owner = f"run {marker.run_id}" if marker else f"a live cutover (pid {(live or {}).get('pid')})"
                raise AirflowFailException(f"An earlier attempt of this cutover was interrupted; A's fence now "
                                           f"belongs to {owner}: this retry leaves A alone. Trigger a new "
                                           "cutover run.")
            lift_fence(a, previous, by="retry")
        previous.save(fence_path)
        raise AirflowFailException(
            "An earlier attempt of this cutover was interrupted after it began fencing A; A has been unfenced "
            f"(roles {', '.join(previous.roles) or 'none'} can log in again). Trigger a new cutover run.")
    if previous and previous.state == "finalized":
        raise AirflowFailException("This run already finalized the cutover in an earlier attempt: C is live. "
                                   f"See {fence_path.parent / 'report.json'}")
