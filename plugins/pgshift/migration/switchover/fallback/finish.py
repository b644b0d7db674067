"""Action ``finish``: the user stays on C. Drop the way back (A's subscription, C's slot and publication) and what
the chain left behind (B's physical slot and the chain's publication on A, the logical slot on B if any), in every
database of the chain (B's physical slot once, last). A stays fenced. Refused while a fallback is under way (it
holds the lease on C) and after one (A is no longer fenced by a cutover: B's slot on A then serves A's standby
again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.lease import READY, lease_holder, read_marker, release_lease, take_lease

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.sync.settings import SyncSettings


@dataclass(frozen=True)
class Leftovers:
    """One database's part of the chain and of the way back (connection ids qualified for a chain of several
    databases: :meth:`pgshift.migration.config.ChainConfig.database_chains`)."""

    database: str | None  # named in the messages of a chain of several databases
    conn_a: str
    conn_c: str
    # C as A's subscription reaches it: a slot left on C is dropped through it (REPLICATION / rds_replication; the
    # role of conn_c has neither on Aurora)
    conn_c_subscription: str
    fallback_publication: str  # on C
    fallback_subscription: str  # on A; its slot on C has the same name
    publication: str  # the chain's, on A
    slot: str  # the chain's logical slot on B (dropped with C's subscription at the finalize)
    source: str = "A"  # what to call conn_a's server: B once it was promoted (ChainConfig.with_source)

    def where(self, server: str) -> str:
        return f"{server} (database {self.database})" if self.database else server


@dataclass(frozen=True)
class FinishSettings:
    """The home connections (the lease on C, the fence marker on A, B's replay), B's physical slot on A, and each
    database's leftovers."""

    conn_a: str
    conn_b: str
    conn_c: str
    physical_slot: str  # B's, on A
    databases: tuple[Leftovers, ...]
    # B as A's synchronous standby, as the setup recorded it (None: it is not): A gets its earlier value back first
    synchronous: SyncSettings | None = None


@dataclass
class FinishResult:
    dropped: list[str] = field(default_factory=list)
    would_drop: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"dropped": self.dropped, "would_drop": self.would_drop, "problems": self.problems}


def finish_way_back(s: FinishSettings, log: Logger, *, dry_run: bool) -> FinishResult:
    """Drop everything of pgshift's replication on A, B and C (``dry_run``: only name it)."""
    from pgshift.migration.hooks.fallback import WayBackHook

    out = FinishResult()
    with WayBackHook(s.conn_c) as c, WayBackHook(s.conn_a) as a:
        if not take_lease(c):
            holder = lease_holder(c) or {}
            raise AirflowFailException(f"Finish refused: a fallback is under way (it holds the lease on C: backend "
                                       f"pid {holder.get('pid')}); nothing was dropped")
        try:
            marker = read_marker(a)
            if marker is None or marker.state != READY:
                raise AirflowFailException(
                    "Finish refused: A is not fenced by a finished cutover (fence marker "
                    f"{marker.state if marker else 'absent'}): after a fallback A is the primary again and B's slot "
                    "on A serves its standby; nothing was dropped")
            if s.synchronous is not None:  # first: B stops following A when its slot goes, A must not wait for it
                _restore_synchronous(out, s.synchronous, log, dry_run=dry_run)
            for part in s.databases:
                _finish_database(out, part, log, dry_run=dry_run)
            _drop_on_b(out, s, a.current_wal_lsn(), log, dry_run=dry_run)
            # Last: without its slot B stops following A, so B first replays the publication's drop above.
            _drop(out, f"physical slot {s.physical_slot} on A (B's)", dry_run, log,
                  present=a.physical_slot(s.physical_slot) is not None,
                  drop=lambda: _drop_slot(a, s.physical_slot, end_walsender=True))
        finally:
            release_lease(c)
    return out


def _restore_synchronous(out: FinishResult, settings: SyncSettings, log: Logger, *, dry_run: bool) -> None:
    """A's synchronous_standby_names back to its value before the setup (B is no standby of A after finish)."""
    from pgshift.migration.sync.standby import restore

    what = f"synchronous_standby_names {settings.names} on A (back to {settings.previous!r})"
    _drop(out, what, dry_run, log, present=True, drop=lambda: restore(settings))


def _finish_database(out: FinishResult, part: Leftovers, log: Logger, *, dry_run: bool) -> None:
    """One database's way back (A's subscription, its slot on C, C's publication) and the chain's publication on A."""
    from pgshift.migration.hooks.fallback import WayBackHook

    on_a, on_c = part.where(part.source), part.where("C")
    with WayBackHook(part.conn_c) as c, WayBackHook(part.conn_a) as a:
        a.session_read_write()  # a session opened on a fenced A starts read-only
        _drop(out, f"subscription {part.fallback_subscription} on {on_a} (and its slot on C)", dry_run, log,
              present=a.subscription(part.fallback_subscription) is not None,
              drop=lambda: a.drop_subscription(part.fallback_subscription))
        _drop(out, f"slot {part.fallback_subscription} on {on_c}", dry_run, log,
              present=c.reverse_slot(part.fallback_subscription) is not None,
              drop=lambda: _drop_slot_as(part.conn_c_subscription, part.fallback_subscription))
        _drop(out, f"publication {part.fallback_publication} on {on_c}", dry_run, log,
              present=c.publication(part.fallback_publication) is not None,
              drop=lambda: c.drop_publication(part.fallback_publication))
        _drop(out, f"publication {part.publication} on {on_a}", dry_run, log,
              present=a.publication(part.publication) is not None, drop=lambda: a.drop_publication(part.publication))


def _drop(out: FinishResult, what: str, dry_run: bool, log: Logger, *, present: bool,
          drop: Callable[[], object]) -> None:
    if not present:
        return
    if dry_run:
        out.would_drop.append(what)
        log.info("Would drop %s", what)
        return
    try:
        drop()
    except Exception as exc:  # noqa: BLE001 - the others are still dropped; the task fails with every problem
        out.problems.append(f"{what}: {type(exc).__name__}: {str(exc).strip()}")
        log.error("Could not drop %s: %s", what, exc)
        return
    out.dropped.append(what)
    log.info("Dropped %s", what)


def _drop_slot_as(conn_id: str, name: str) -> None:
    """Drop a slot on C through ``conn_id``, a connection whose role may manage slots."""
    from pgshift.migration.hooks.fallback import WayBackHook

    with WayBackHook(conn_id) as hook:
        _drop_slot(hook, name, end_walsender=False)


def _drop_slot(hook: WayBackHook, name: str, *, end_walsender: bool, timeout: float = 10) -> None:
    """Drop a slot; B's walreceiver reconnects (every wal_retrieve_retry_interval), so its walsender is ended and
    the drop tried again until it wins."""
    deadline = time.monotonic() + timeout
    while not hook.drop_slot(name, end_walsender=end_walsender):
        if hook.physical_slot(name) is None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"slot {name} stayed in use for {timeout:g} s")
        time.sleep(0.05)


def _drop_on_b(out: FinishResult, s: FinishSettings, lsn: str, log: Logger, *, dry_run: bool,
               timeout: float = 30) -> None:
    """Wait until B has replayed ``lsn`` (A's publications gone), then drop each database's logical slot on B if the
    finalize left it (a DMS chain). B may be gone: that is a problem, named, and nothing else waits for it."""
    from pgshift.migration.hooks.standby import StandbyHook

    try:
        with StandbyHook(s.conn_b) as b:
            deadline = time.monotonic() + timeout
            while not dry_run and not b.replay_reached(lsn).reached:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"B did not replay A's {lsn} within {timeout:g} s")
                time.sleep(0.05)
            for slot in (part.slot for part in s.databases):  # slots are the server's: B's home session drops each
                present = b.logical_slot(slot) is not None

                def drop(slot: str = slot) -> None:
                    if not b.drop_inactive_slot(slot):
                        raise RuntimeError(f"slot {slot} on B is in use")

                _drop(out, f"slot {slot} on B", dry_run, log, present=present, drop=drop)
    except Exception as exc:  # noqa: BLE001 - B unreachable
        out.problems.append(f"B: {type(exc).__name__}: {str(exc).strip()}")

