"""The switchover runbook both directions share: lease -> fence -> drain -> judge -> commit -> settle, and on any
failure one rollback that lifts the fence this attempt set.

:class:`Switchover` is the cutover (:class:`pgshift.migration.switchover.cutover.phases.CutoverRun`, source A,
target C) and the fallback (:class:`pgshift.migration.switchover.fallback.run.FallbackRun`, source C, target A). The
source is the side that is fenced: its application roles lose LOGIN, it defaults to read-only, their sessions end
(:mod:`pgshift.migration.switchover.fence`), and its lease and marker let the fence watchdog lift the fence of an
attempt that died (:mod:`pgshift.migration.switchover.lease`). A direction
brings its own drain engine (:meth:`Switchover._wait_confirmed`), what may stop its rollback
(:meth:`Switchover._may_lift`), its messages and its report's summary.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.report import write_json
from pgshift.migration.switchover.drain import DrainTimeout
from pgshift.migration.switchover.fence import FenceError, FenceRecord, apply_fence, lift_fence, plan_fence
from pgshift.migration.switchover.lease import (
    LeaseLost,
    commit_point,
    lease_holder,
    read_marker,
    take_lease,
    write_marker,
)
from pgshift.migration.switchover.report import SwitchoverReport
from pgshift.migration.switchover.results import Committed, Drained, Fenced, Verified
from pgshift.migration.switchover.state import Direction, Event, FenceState, Outcome, Timeline

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.verify.parity import TableParity


class SwitchoverAbort(Exception):
    """A reason to stop the switchover and lift the fence."""


class SwitchoverSettings(Protocol):
    """What the runbook needs of a direction's settings."""

    @property
    def run_id(self) -> str: ...

    @property
    def run_dir(self) -> Path: ...

    @property
    def fence_path(self) -> Path: ...


R = TypeVar("R", bound=SwitchoverReport)


class Switchover(Generic[R]):
    """One attempt of one switchover: the fenced side's session (:attr:`source`), the report (the direction's
    :class:`~pgshift.migration.switchover.report.SwitchoverReport`), the fence record."""

    direction: ClassVar[Direction]
    expected: ClassVar[tuple[type[BaseException], ...]] = (SwitchoverAbort, LeaseLost, FenceError)

    def __init__(self, settings: SwitchoverSettings, source: PrimaryHook, source_conn: str, report: R,
                 log: Logger) -> None:
        self.source, self.source_conn, self.report, self.log = source, source_conn, report, log
        self.run_settings = settings
        self.timeline = Timeline(report.timeline, self.direction)
        self.fence_record: FenceRecord | None = None  # what to undo; set before the fence is applied

    # -- before the fence: refusals change nothing
    def take_lease(self) -> None:
        """First thing: the fence watchdog beside this task knows from the lease that this switchover is alive."""
        d = self.direction
        if not take_lease(self.source):
            holder = lease_holder(self.source) or {}
            raise AirflowFailException(
                f"{d.title} refused before the fence: another {d.rivals} holds the lease on {d.source} (backend pid "
                f"{holder.get('pid')}, role {holder.get('usename')}, since {holder.get('backend_start')}); "
                f"{d.untouched}")

    # -- the switchover
    def fence(self, roles: list[str], databases: list[str] | None = None) -> Fenced:
        """The source's roles lose LOGIN, it defaults to read-only (each of ``databases``, default the source
        session's own), their sessions end; the record is written first, so that an interrupted attempt can be
        undone."""
        d, path = self.direction, self.run_settings.fence_path
        record = self.fence_record = plan_fence(self.source, roles, self.run_settings.run_id, databases)
        record.save(path)
        apply_fence(self.source, record, roles, by=d.action)
        record.save(path)
        if record.final_lsn is None or record.fenced_at is None:
            raise FenceError(f"{d.source}'s fence recorded no final LSN")  # apply_fence sets both or raises
        self.timeline.mark(Event.FENCED, record.fenced_at)
        self.timeline.mark(Event.SESSIONS_ENDED, record.terminated_at)
        self.timeline.mark(Event.FINAL_LSN_TAKEN, record.final_lsn_at)
        self.report.terminated_sessions = record.terminated
        self.report.unfenced_sessions = record.unfenced_sessions
        for s in record.unfenced_sessions:
            self.log.warning("Session %s of role %s is still connected to %s (database %s) and is not fenced",
                             s["pid"], s["usename"], d.source, s.get("database"))
        self.report.final_lsn = record.final_lsn
        return Fenced(record.final_lsn, record.fenced_at, record.terminated, record.unfenced_sessions)

    def drain(self, lsn: str) -> Drained:
        """Until the target has confirmed the source's position ``lsn``."""
        try:
            replayed, confirmed = self._wait_confirmed(lsn)
        except DrainTimeout as exc:
            raise SwitchoverAbort(f"drain failed: {exc}") from exc
        if self.direction.through_b:
            self.timeline.mark(Event.B_REPLAYED, replayed)
        self.timeline.mark(Event.DRAINED, confirmed)
        return Drained(lsn, replayed, confirmed)

    def judge(self, results: list[TableParity], into: dict[str, Any] | None = None) -> Verified:
        """Log and record (as ``tables`` in ``into``, default the report's) each table's result; abort if any
        differs."""
        d = self.direction
        for r in results:
            (self.log.info if r.status in ("equal", "moving") else self.log.error)("verify %s", r.describe())
        tables = [p.as_dict() for p in results]
        if into is None:
            self.report.tables = tables
        else:
            into["tables"] = tables
        bad = [p for p in results if p.status in ("differs", "error")]
        if bad:
            raise SwitchoverAbort(f"parity mismatch {d.source} vs {d.target} in {len(bad)} table(s): "
                                  + "; ".join(p.describe() for p in bad))
        now = time.time()
        self.timeline.mark(Event.VERIFIED, now)
        return Verified(results, now)

    def commit(self, login_on_target: list[str] | None = None) -> Committed:
        """The point of no return, and only while this session still holds the lease: from here on the fence
        watchdog leaves the source fenced even if this task dies. ``login_on_target``: the roles to give LOGIN on
        the target, kept in the marker for a retry that finishes the switchover (a chain of several databases)."""
        record = self.record()
        marker = read_marker(self.source)
        if marker is not None and login_on_target is not None:
            marker.login_on_c = list(login_on_target)
        marker = commit_point(self.source, record.database, marker, by=self.direction.action)
        record.state = FenceState.COMMITTED
        record.save(self.run_settings.fence_path)
        now = time.time()
        self.timeline.mark(Event.COMMITTED, now)
        return Committed(marker, now)

    def settle(self, committed: Committed) -> None:
        """After the irreversible step: the source stays fenced on purpose (marker and record ``ready``)."""
        record = self.record()
        record.state = FenceState.READY
        record.save(self.run_settings.fence_path)
        write_marker(self.source, record.database, committed.marker, FenceState.READY, self.direction.action)

    # -- the end
    def finish(self) -> dict[str, Any]:
        """Write the report and say how it went; returns the task's XCom."""
        path = write_json(self.run_settings.run_dir / "report.json", self.report.as_dict())
        try:
            summary = self.summary()
        except Exception:  # the switchover is done: a summary it cannot print must not fail it
            self.log.exception("Could not summarize the report (it is written: %s)", path)
            summary = f"{self.direction.title} {self.report.status}"
        self.log.info("%s\nReport: %s", summary, path)
        return self._xcom(path)

    def abort(self, exc: BaseException) -> AirflowFailException:
        """Lift the fence if this attempt set it (and may lift it) and write the report; returns the error that
        fails the task."""
        reason = str(exc) if isinstance(exc, self.expected) else f"{type(exc).__name__}: {exc}"
        self.report.status = Outcome.ROLLED_BACK if self.fence_record else Outcome.FAILED
        self.report.error = reason
        lifted = self.rollback()
        if lifted:
            self.timeline.mark(Event.UNFENCED, time.time())
        write_json(self.run_settings.run_dir / "report.json", self.report.as_dict())
        self.log.error("%s", self.summary())
        return AirflowFailException(self._failure(reason, lifted=lifted))

    def rollback(self, source: PrimaryHook | None = None) -> bool:
        """Lift the fence if this attempt set it and has not settled, in ``source`` (default: this run's session, or
        a new one if that is the broken thing); True if it did."""
        from pgshift.migration.hooks.primary import PrimaryHook

        record = self.fence_record
        if not record or record.state not in (FenceState.FENCED, FenceState.COMMITTED) or not self._may_lift():
            return False
        by = f"{self.direction.action} rollback"
        try:
            lift_fence(self.source if source is None else source, record, by=by)
        except Exception:  # noqa: BLE001 - the connection may be the broken thing: try a fresh one
            with PrimaryHook(self.source_conn) as fresh:
                lift_fence(fresh, record, by=by)
        record.save(self.run_settings.fence_path)
        self.log.warning("%s's fence lifted: roles %s can log in again; its read-only default restored%s",
                         self.direction.source, ", ".join(record.roles) or "none", self._after_lift())
        return True

    def rollback_in_new_session(self) -> None:
        """:meth:`rollback` from outside the phases (the task is being killed): this run's session may be busy."""
        from pgshift.migration.hooks.primary import PrimaryHook

        with PrimaryHook(self.source_conn) as source:
            self.rollback(source)

    # -- what a direction says
    def _wait_confirmed(self, lsn: str) -> tuple[float | None, float]:
        """The direction's drain engine: (replayed on B, confirmed) times, or :class:`DrainTimeout`."""
        raise NotImplementedError

    def _may_lift(self) -> bool:
        """Whether the rollback may still lift the source's fence (never once the target takes writes)."""
        return True

    def _after_lift(self) -> str:
        return ""

    def _failure(self, reason: str, *, lifted: bool) -> str:
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError

    def _xcom(self, report_path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def record(self) -> FenceRecord:
        if self.fence_record is None:
            raise FenceError(f"{self.direction.source} is not fenced by this attempt")  # out of runbook order
        return self.fence_record
