"""A retry never fences twice: it finds what an earlier attempt of the same run left on the source (A for the cutover,
C for the fallback), undoes what can be undone, and fails saying what happened and what to do next.

The source itself is asked first (the fence marker, see :mod:`pgshift.migration.switchover.lease`): the watchdog may
already have lifted
the fence, and the fence record file may be on another worker's disk.

Past the point of no return a retry cannot roll back. For a single database it says what is left to a person. For a
chain of several databases it is given ``finish``
(:func:`pgshift.migration.switchover.cutover.several.finish_committed`) and finishes the job instead: under the
lease, it finalizes every database the marker does not name as finalized, marks the marker ready and opens LOGIN on
the target, and the retry succeeds. Never half: either every database is finalized and the marker says ready, or
the retry fails with the marker still committed and A still fenced, and the next retry goes on from the databases
done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.fence import FenceRecord, lift_fence
from pgshift.migration.switchover.lease import FenceMarker, lease_alive, read_marker, take_lease
from pgshift.migration.switchover.state import Direction, FenceState, iso

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook

# Finishes a switchover past its commit point, in the source's session holding the lease; returns what it did.
Finish = Callable[["PrimaryHook", FenceMarker], list[str]]

# What a switchover that died past its point of no return leaves to a person, by direction.
AFTER_COMMIT = {
    "cutover": "C verified, sequences set; A stays fenced. Finish it (native: DROP SUBSCRIPTION on C; dms: stop the "
               "task) or lift the fence by hand; see docs/operations.md, 'What to do after a failure'.",
    "fallback": "A verified, sequences set, the reverse subscription dropped; C stays fenced. If A is still fenced "
                "(pgshift.fence on A's database), lift A's fence by hand (ALTER ROLE … LOGIN for its roles; ALTER "
                "DATABASE … RESET default_transaction_read_only, in every database the marker's databases names) "
                "and A is the primary; see docs/operations.md, 'What to do after a failure'.",
}
SETTLED = {"cutover": "C is ready", "fallback": "A is the primary"}


def recover_interrupted_attempt(d: Direction, conn_id: str, run_id: str, fence_path: Path,
                                finish: Finish | None = None) -> list[str] | None:
    """Return None if no earlier attempt of ``run_id`` left anything on the source; else undo what can be undone and
    fail, or, given ``finish`` and a marker past the commit point, finish the switchover and return what was done.
    ``conn_id`` reaches the source."""
    from pgshift.migration.hooks.primary import PrimaryHook

    src, again = d.source, f"Trigger a new {d.action} run."
    stays = f", {d.target} stays fenced" if d.action == "fallback" else ""
    with PrimaryHook(conn_id) as s:
        marker = read_marker(s)
        if marker and marker.run_id == run_id:
            fenced_at = iso(marker.fenced_at)
            if marker.state == FenceState.FENCED:
                if not take_lease(s):
                    holder = lease_alive(s) or {}
                    raise AirflowFailException(
                        f"An earlier attempt of this {d.action} fenced {src} at {fenced_at} and still holds the "
                        f"lease (backend pid {holder.get('pid')}): it is alive, so {src} is left to it")
                lift_fence(s, FenceRecord.from_marker(s.conn_params()["dbname"], marker), by="retry")
                raise AirflowFailException(
                    f"An earlier attempt of this {d.action} died after fencing {src} at {fenced_at}; this retry "
                    f"unfenced {src} at {iso(time.time())} (roles {', '.join(marker.roles) or 'none'} can log in "
                    f"again){stays}. {again}")
            if finish is not None and marker.state in (FenceState.COMMITTED, FenceState.READY):
                if not take_lease(s):
                    holder = lease_alive(s) or {}
                    raise AirflowFailException(
                        f"An earlier attempt of this {d.action} passed its point of no return and still holds the "
                        f"lease (backend pid {holder.get('pid')}): it is alive, so it finishes; {src} stays fenced")
                return finish(s, marker)
            if marker.state == FenceState.COMMITTED:
                raise AirflowFailException(
                    f"An earlier attempt of this {d.action} fenced {src} at {fenced_at} and passed the point of no "
                    f"return at {iso(marker.changed_at)} before it died: {AFTER_COMMIT[d.action]}")
            if marker.state == FenceState.READY:
                raise AirflowFailException(f"This run already finished the {d.action} ({SETTLED[d.action]} since "
                                           f"{iso(marker.changed_at)}); {src} stays fenced.")
    previous = FenceRecord.load(fence_path)
    if previous and previous.state in (FenceState.PLANNED, FenceState.FENCED):
        with PrimaryHook(conn_id) as s:
            # The marker is gone (lifted) or was never written: lift what the record says, unless a newer
            # switchover owns the source's fence now or one is alive.
            marker, live = read_marker(s), lease_alive(s)
            if live or (marker and marker.run_id != run_id):
                owner = f"run {marker.run_id}" if marker else f"a live {d.rivals} (pid {(live or {}).get('pid')})"
                raise AirflowFailException(f"An earlier attempt of this {d.action} was interrupted; {src}'s fence "
                                           f"now belongs to {owner}: this retry leaves {src} alone. {again}")
            lift_fence(s, previous, by="retry")
        previous.save(fence_path)
        raise AirflowFailException(
            f"An earlier attempt of this {d.action} was interrupted after it began fencing {src}; {src} has been "
            f"unfenced (roles {', '.join(previous.roles) or 'none'} can log in again){stays}. {again}")
    if previous and previous.state == FenceState.COMMITTED:
        raise AirflowFailException(f"An earlier attempt of this {d.action} passed its point of no return and the "
                                   f"marker on {src} is gone (lifted by hand?): {AFTER_COMMIT[d.action]} See "
                                   f"{fence_path.parent / 'report.json'}")
    if previous and previous.state == FenceState.READY:
        raise AirflowFailException(f"This run already finished the {d.action} in an earlier attempt "
                                   f"({SETTLED[d.action]}). See {fence_path.parent / 'report.json'}")
    return None
