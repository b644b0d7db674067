"""A retry of the fallback never fences C twice: it finds what an earlier attempt of the same run left (C's fence
record, ``fence_c.json``), lifts C's fence unless A was unfenced already, and fails (as
:mod:`pgshift.migration.switchover.cutover.recovery` does for A's)."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.cutover.results import iso
from pgshift.migration.switchover.fence import FenceRecord, lift_fence
from pgshift.migration.switchover.lease import lease_holder


def recover_interrupted_attempt(conn_c: str, fence_path: Path) -> None:
    """A retry never fences C twice: an earlier attempt of this run that fenced C and died has C's fence lifted
    (unless it unfenced A already), then the task fails."""
    from pgshift.migration.hooks.fallback import WayBackHook

    previous = FenceRecord.load(fence_path)
    if previous is None or previous.state in ("lifted", "planned"):
        if previous and previous.state == "planned":  # died while fencing: lift what may be set
            with WayBackHook(conn_c) as c:
                lift_fence(c, previous, by="retry")
            previous.save(fence_path)
            raise AirflowFailException("An earlier attempt of this fallback was interrupted while fencing C; C has "
                                       "been unfenced. Trigger a new fallback run.")
        return
    if previous.state == "finalized":
        raise AirflowFailException("This run already fell back to A in an earlier attempt: A is the primary, C "
                                   f"stays fenced. See {fence_path.parent / 'report.json'}")
    with WayBackHook(conn_c) as c:
        if lease_holder(c):
            raise AirflowFailException("An earlier attempt of this fallback fenced C and still holds the lease on C: "
                                       "it is alive, so C is left to it")
        lift_fence(c, previous, by="retry")
    previous.save(fence_path)
    raise AirflowFailException(f"An earlier attempt of this fallback died after fencing C at "
                               f"{iso(previous.fenced_at)}; this retry unfenced C (roles "
                               f"{', '.join(previous.roles) or 'none'} can log in again), A stays fenced. "
                               "Trigger a new fallback run.")
