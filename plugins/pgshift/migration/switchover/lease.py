"""The fence's lease: a fence never outlives the switchover (cutover A -> C, or fallback C -> A) that set it.

A switchover task can die after it fenced its source (a lost worker, an OOM kill: SIGKILL runs no ``on_kill``), and
Airflow's retry may come late or never. So the fence does not depend on a retry:

- **The lease** is a session-level advisory lock (:data:`LEASE_KEY`) on the server being fenced (A for the cutover,
  C for the fallback), taken by the switchover in its own session before it fences and held until it ends.
  PostgreSQL releases it the moment that session ends, which is the moment the switchover's process dies (its
  socket closes) or its connection is lost.
- **Only pgshift's role holds it.** Any role that can connect can call ``pg_try_advisory_lock`` with the same keys,
  so the lock alone would let role ``app`` block every switchover, or keep a dead one's fence in place by taking
  the key as the dead session frees it. The lease is therefore *the lock held by a session of the role the
  switchover runs as* (the role of the connection, which the watchdog shares): a holder of any other role is an
  impostor, named in pg_locks joined to pg_stat_activity (role, pid, backend start), and :func:`take_lease` ends
  its session (``pg_terminate_backend``: pgshift's role may, as it does for the fence's own sessions; on Aurora
  through ``pg_signal_backend``, which rds_superuser holds) and takes the lock. The watchdog treats an impostor's
  lock as free. A live switchover's session is pgshift's role, so it is never evicted: that is why nothing can
  unfence a switchover that is alive.

  Weighed and not chosen: a lock on a table only pgshift may lock (``LOCK`` lasts a transaction, so the lease
  session would sit idle in transaction for the whole switchover, exposed to idle_in_transaction_session_timeout,
  and the table would sit on A inside ``FOR ALL TABLES`` publications and DMS's all-tables scope unless it were
  unlogged and excluded everywhere; B would carry it and DMS could not read it there); a temporary replication
  slot (only roles with REPLICATION may create one, but Aurora's physical slots and a logical slot's snapshot wait
  behind every open transaction). The advisory lock plus the role check costs one query and works the same on
  PostgreSQL and Aurora; a role that reconnects in a loop to race for the key loses after the fence, which takes
  LOGIN from the roles it fences, and is refused with its name before it.
- **The marker** is ``pgshift.fence``, a setting stored with the database (``ALTER DATABASE … SET``) as JSON (where
  pgshift's role may not store that placeholder setting, Aurora's master user, the first line of the database's
  comment: :meth:`~pgshift.migration.hooks.primary.PrimaryHook.fence_marker_set`): the
  run, the roles the fence took LOGIN from, the earlier read-only default, the fence time and a
  :class:`~pgshift.migration.switchover.state.FenceState`; for a chain of several databases also every fenced
  database with its earlier read-only default, the databases finalized past the commit, and the roles to give LOGIN
  on the target (so that the recovery of an interrupted attempt can finish it). The marker is kept in one database,
  the home one (the source connection's), with the lease. It is written in the fence's own transaction (no fence
  without a
  marker) and read by anyone who connects: the watchdog, the task's retry, the next switchover. States: ``fenced`` ->
  ``committed`` (the point of no return) -> ``ready``. Lifting the fence (the switchover's own rollback, its retry,
  or the watchdog) removes the marker with it, in one transaction, so that a rolled-back server is exactly as it was.
- **The watchdog** (:class:`pgshift.migration.triggers.fence_watchdog.FenceWatchdogTrigger`, a deferred task beside the
  cutover and one beside the fallback, polled by the triggerer, not by a worker) lifts a ``fenced`` marker whose
  lease is free: it takes the lease itself, reads the marker again, and lifts the fence exactly, all while holding
  the lease.
- **The commit point**: before its irreversible step (the cutover's finalize, the fallback's unfencing of A) the
  switchover writes ``committed`` in a transaction that first checks that its session still holds the lease (a
  session that reconnected does not). If its session is gone, the commit fails and the switchover rolls back
  instead. A ``committed`` marker is never lifted by the watchdog: the other side may already be taking writes, and
  two writable primaries is the one outcome worse than a fenced server. The watchdog then says so and leaves the
  decision to a person.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from pgshift.migration.switchover.state import FenceState

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook

log = logging.getLogger(__name__)

# Two int4 keys of pg_try_advisory_lock(int, int): "pgsh", "fnce". Advisory locks are per database.
LEASE_KEY = (int.from_bytes(b"pgsh", "big"), int.from_bytes(b"fnce", "big"))
FENCED, COMMITTED, READY = FenceState.FENCED, FenceState.COMMITTED, FenceState.READY
EVICT_WITHIN = 5.0  # seconds to win the key from an impostor that holds it


class LeaseLost(Exception):
    """The switchover's session no longer holds the lease: it must not pass the point of no return."""


@dataclass
class FenceMarker:
    """What the fenced server itself knows about the last switchover's fence (``pgshift.fence`` on the database)."""

    run_id: str
    state: FenceState
    roles: list[str]  # roles the fence took LOGIN from
    previous_read_only: str | None
    fenced_at: float | None = None
    changed_at: float | None = None
    changed_by: str | None = None  # who set the state
    history: list[dict[str, Any]] = field(default_factory=list)
    # The fence of several databases (a marker an earlier pgshift wrote has none of these three):
    databases: dict[str, str | None] = field(default_factory=dict)  # fenced database -> its earlier read-only value
    finalized: list[str] = field(default_factory=list)  # past the commit: the databases whose target is finalized
    login_on_c: list[str] = field(default_factory=list)  # at the commit: the roles to give LOGIN on the target

    def __post_init__(self) -> None:
        self.state = FenceState.parse(self.state)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FenceMarker:
        known = {f.name for f in fields(cls)}  # a newer pgshift's key is not a reason to leave a fence up
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


def read_marker(a: PrimaryHook) -> FenceMarker | None:
    raw = a.fence_marker()
    return FenceMarker.from_json(raw) if raw else None


def write_marker(a: PrimaryHook, database: str, marker: FenceMarker, state: FenceState, by: str) -> FenceMarker:
    """Set the marker's state (inside the caller's transaction, if any)."""
    marker.history.append({"state": marker.state, "at": marker.changed_at, "by": marker.changed_by})
    marker.state, marker.changed_at, marker.changed_by = state, time.time(), by
    a.fence_marker_set(database, marker.to_json())
    return marker


def take_lease(a: PrimaryHook) -> bool:
    """Take the lease in ``a``'s session; False if a session of pgshift's role holds it. A session of another role
    holding the key is ended first (and named in the log), for up to :data:`EVICT_WITHIN` seconds."""
    deadline = time.monotonic() + EVICT_WITHIN
    while True:
        if a.lease_take(LEASE_KEY):
            return True
        holder = a.lease_holder(LEASE_KEY)
        if holder is not None and holder.ours:
            return False
        for evicted in a.lease_evict(LEASE_KEY):
            log.warning("Ended session %s of role %s: it held pgshift's lease key, which only pgshift's role may "
                        "hold", evicted.pid, evicted.usename)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def release_lease(a: PrimaryHook) -> None:
    a.lease_release(LEASE_KEY)


def lease_holder(a: PrimaryHook) -> dict[str, Any] | None:
    """The backend holding the lease (pid, application_name, backend_start, usename, ours), or None."""
    holder = a.lease_holder(LEASE_KEY)
    return None if holder is None else asdict(holder)


def lease_alive(a: PrimaryHook) -> dict[str, Any] | None:
    """The holder of the lease if it is a session of pgshift's role (a switchover alive), else None: an impostor's
    lock does not make a switchover alive."""
    holder = lease_holder(a)
    return holder if holder and holder["ours"] else None


def commit_point(a: PrimaryHook, database: str, marker: FenceMarker | None, by: str = "cutover") -> FenceMarker:
    """Mark the fence ``committed``, only if this session still holds the lease (else :class:`LeaseLost`)."""
    with a.transaction():
        if not a.lease_mine(LEASE_KEY):
            raise LeaseLost(f"the {by}'s session lost its lease (the connection was lost, or the server "
                            f"restarted): the fence watchdog may be lifting the fence, so the {by} stops here")
        if marker is None:
            raise LeaseLost(f"the fence marker is gone (the fence was lifted by hand?): the {by} stops here")
        return write_marker(a, database, marker, COMMITTED, by)
