"""The synchronous guard: A falls back to asynchronous replication when B is gone, and back when B has caught up.

PostgreSQL has no timeout for synchronous replication: with ``synchronous_standby_names`` naming B, a commit on A
waits for B however long B is away. So an agent watches A: the DAG ``hybrid_aurora_migration_sync_guard`` runs one
deferred task at a time whose trigger (:class:`pgshift.migration.triggers.sync_guard.SyncGuardTrigger`, in Airflow's
triggerer: asynchronous, a query a second) calls :meth:`Guard.step`. The decision is :func:`decide`, a plain function
of one reading of A, the time B was first seen unwell and the clock.

- Synchronous (A names B): B is unwell when it is not A's ``sync`` standby (no walsender, catching up, stopping), or
  when commits wait for it and it has not replied for longer than ``synchronous_fallback_seconds`` (a B that hangs
  keeps its walsender until ``wal_sender_timeout``). Unwell for ``synchronous_fallback_seconds``: A's value goes
  back to the one before the setup (empty, usually): ``ALTER SYSTEM`` + ``pg_reload_conf()`` releases the waiting
  commits at once.
- Asynchronous (A has the earlier value): when B streams again and its flush is within :data:`CATCH_UP_BYTES` of A's
  position, A names B again (the first commits then wait only for B to flush that much).
- Any other value: somebody changed it; the guard leaves it alone and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.states import SyncReading
    from pgshift.migration.sync.settings import SyncSettings

CATCH_UP_BYTES = 2**20  # B's flush this close to A's position counts as caught up


class Act(StrEnum):
    NONE = "none"
    RELEASE = "release"  # A asynchronous: synchronous_standby_names back to its earlier value
    RESTORE = "restore"  # A synchronous again: synchronous_standby_names names B


@dataclass(frozen=True)
class Decision:
    act: Act
    reason: str
    unwell_since: float | None  # when B was first seen unwell while A waits for it (None: it is well, or A does not)


def _b(r: SyncReading) -> str:
    if r.state is None:
        return "has no walsender on A (stopped, unreachable or not connected)"
    return f"is {r.state} ({r.sync_state}), {r.behind_bytes} bytes behind A"


def decide(s: SyncSettings, r: SyncReading, unwell_since: float | None, now: float) -> Decision:
    """What the guard does on reading ``r`` of A at ``now`` (epoch seconds), B having been unwell since
    ``unwell_since``."""
    if r.names == s.names:
        hung = bool(r.waiting_commits and r.reply_age_s is not None and r.reply_age_s > s.fallback_seconds)
        if r.sync_state == "sync" and not hung:
            return Decision(Act.NONE, "synchronous: B is A's synchronous standby", None)
        what = (f"has not replied for {r.reply_age_s:.1f} s while {r.waiting_commits} commit(s) wait for it"
                if hung and r.reply_age_s is not None else _b(r))
        since = unwell_since if unwell_since is not None else now
        if hung and r.reply_age_s is not None:
            since = min(since, now - r.reply_age_s)
        waited = now - since
        if waited < s.fallback_seconds:
            return Decision(Act.NONE, f"synchronous, B {what}, {waited:.1f} s now: falls back after "
                                      f"{s.fallback_seconds:g} s", since)
        return Decision(Act.RELEASE, (
            f"B {what}, {waited:.1f} s now (synchronous_fallback_seconds {s.fallback_seconds:g}), and A's commits "
            f"({r.waiting_commits} waiting) would wait for it: synchronous_standby_names on A set back to "
            f"{s.previous!r}. The chain is asynchronous now: a commit A acknowledges until B is back may be lost "
            "with A"), since)
    if r.names == s.previous:
        if r.state == "streaming" and r.behind_bytes is not None and r.behind_bytes <= CATCH_UP_BYTES:
            return Decision(Act.RESTORE, (
                f"B streams again, {r.behind_bytes} bytes behind A: synchronous_standby_names on A set to {s.names}; "
                "the chain is synchronous again"), None)
        return Decision(Act.NONE, f"asynchronous until B streams and catches up: B {_b(r)}", None)
    return Decision(Act.NONE, (f"synchronous_standby_names on A is {r.names!r}, neither pgshift's {s.names!r} nor "
                               f"the earlier {s.previous!r}: changed by someone else, left alone"), None)


class Guard:
    """One guard's memory between readings: when B was first seen unwell, and its session on A (kept open: one
    query a second)."""

    def __init__(self) -> None:
        self.unwell_since: float | None = None
        self._a: PrimaryHook | None = None
        self._conn: str | None = None

    def step(self, s: SyncSettings, still: Callable[[], SyncSettings | None] | None = None,
             now: float | None = None) -> Decision:
        """Read A, decide, act. A failure to reach A raises (the caller logs it and tries again: nobody can change
        an A nobody reaches) and the session is opened anew next time.

        ``still`` reads the settings again right before A is changed, after A was read: the guard acts only if they
        are unchanged. ``finish`` (and a setup that turns the option off) removes them *before* it restores A, so a
        guard that read the restored value cannot name B again after them."""
        from pgshift.migration.hooks.primary import PrimaryHook

        if self._a is None or self._conn != s.conn_a:
            self.close()
            self._a, self._conn = PrimaryHook(s.conn_a), s.conn_a
        try:
            reading = self._a.sync_reading(s.standby)
            decision = decide(s, reading, self.unwell_since, time.time() if now is None else now)
            if decision.act != Act.NONE and still is not None and still() != s:
                decision = Decision(Act.NONE, f"would {decision.act.value}, but the settings changed meanwhile", None)
            if decision.act == Act.RELEASE:
                self._a.set_synchronous_standby_names(s.previous)
            elif decision.act == Act.RESTORE:
                self._a.set_synchronous_standby_names(s.names)
        except Exception:
            self.close()
            raise
        self.unwell_since = decision.unwell_since
        return decision

    def close(self) -> None:
        if self._a is not None:
            self._a.close()
        self._a = None
