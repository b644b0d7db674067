"""The fence's lease on A: a fence never outlives the cutover that set it.

A cutover task can die after it fenced A (a lost worker, an OOM kill: SIGKILL runs no ``on_kill``), and
Airflow's retry may come late or never. So the fence does not depend on a retry:

- **The lease** is a session-level advisory lock on A (:data:`LEASE_KEY`), taken by the cutover in its
  own session before it fences and held until it ends. PostgreSQL releases it the moment that session
  ends, which is the moment the cutover's process dies (its socket closes), or its connection to A is
  lost. Nothing else can take it while the cutover's session lives, which is why nothing can unfence a
  cutover that is still alive.
- **The marker** is ``pgshift.migration.switchover.fence``, a setting stored with the database (``ALTER DATABASE …
SET``) as
  JSON: the run, the roles the fence took LOGIN from, the earlier read-only default, the fence time and
  a state. It is written in the fence's own transaction (no fence without a marker) and read by anyone
  who connects to A: the watchdog, the task's retry, the next cutover. States: ``fenced`` →
  ``committed`` (the point of no return: verified, sequences set, about to finalize) → ``ready``. Lifting
  the fence (the cutover's own rollback, its retry, or the watchdog) removes the marker with it, in one
  transaction, so that a rolled-back A is exactly as it was.
- **The watchdog** (:class:`pgshift.migration.triggers.fence_watchdog.FenceWatchdogTrigger`, a deferred task
  beside the cutover, polled by the triggerer, not by a worker) lifts a ``fenced`` marker whose lease
  is free: it takes the lease itself, reads the marker again, and lifts the fence exactly, all while
  holding the lease.
- **The commit point**: before finalizing, the cutover writes ``committed`` in a transaction that first
  checks that its session still holds the lease (a session that reconnected does not). If its session is
  gone, the commit fails and the cutover rolls back instead. A ``committed`` marker is never lifted by
  the watchdog: C may already be taking writes, and two writable primaries is the one outcome worse than
  a fenced A. The watchdog then says so and leaves the decision to a person.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook

# Two int4 keys of pg_try_advisory_lock(int, int): "pgsh", "fnce". Advisory locks are per database.
LEASE_KEY = (int.from_bytes(b"pgsh", "big"), int.from_bytes(b"fnce", "big"))
FENCED, COMMITTED, READY = "fenced", "committed", "ready"


class LeaseLost(Exception):
    """The cutover's session no longer holds the lease: it must not pass the point of no return."""


@dataclass
class FenceMarker:
    """What A itself knows about the last cutover's fence (``pgshift.migration.switchover.fence`` on the database)."""

    run_id: str
    state: str
    roles: list[str]  # roles the fence took LOGIN from
    previous_read_only: str | None
    fenced_at: float | None = None
    changed_at: float | None = None
    changed_by: str | None = None  # who set the state
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FenceMarker:
        return cls(**json.loads(text))


def read_marker(a: PrimaryHook) -> FenceMarker | None:
    raw = a.database_setting("pgshift.fence")
    return FenceMarker.from_json(raw) if raw else None


def write_marker(a: PrimaryHook, database: str, marker: FenceMarker, state: str, by: str) -> FenceMarker:
    """Set the marker's state (inside the caller's transaction, if any)."""
    marker.history.append({"state": marker.state, "at": marker.changed_at, "by": marker.changed_by})
    marker.state, marker.changed_at, marker.changed_by = state, time.time(), by
    a.fence_marker_set(database, marker.to_json())
    return marker


def take_lease(a: PrimaryHook) -> bool:
    """Take the lease in ``a``'s session; False if another session holds it."""
    return a.lease_take(LEASE_KEY)


def release_lease(a: PrimaryHook) -> None:
    a.lease_release(LEASE_KEY)


def lease_holder(a: PrimaryHook) -> dict[str, Any] | None:
    """The backend holding the lease (pid, application_name, backend_start), or None."""
    holder = a.lease_holder(LEASE_KEY)
    return None if holder is None else asdict(holder)


def commit_point(a: PrimaryHook, database: str, marker: FenceMarker | None) -> FenceMarker:
    """Mark the fence ``committed``, only if this session still holds the lease (else :class:`LeaseLost`)."""
    with a.transaction():
        if not a.lease_mine(LEASE_KEY):
            raise LeaseLost("the cutover's session on A lost its lease (the connection to A was lost, or A "
                            "restarted): the fence watchdog may be lifting the fence, so the cutover stops here")
        if marker is None:
            raise LeaseLost("A's fence marker is gone (the fence was lifted by hand?): the cutover stops here")
        return write_marker(a, database, marker, COMMITTED, "cutover")
