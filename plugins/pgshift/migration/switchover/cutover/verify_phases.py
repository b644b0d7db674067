"""The cutover's verification, ``verify=delta`` (the default) or ``full`` (see :mod:`pgshift.migration.verify.delta`).

delta: before the fence :meth:`VerifyPhases.pre_verify` (every table at a frozen point of B, then catch-up rounds
of changed rows) and :meth:`~VerifyPhases.forecast` (refuses past ``max_write_downtime_seconds``); inside it,
right after the fence, :meth:`~VerifyPhases.prefetch` reads A's side of the rows written since the last frozen
point while C drains, and :meth:`~VerifyPhases.verify` compares C's side with it.
full: nothing before the fence; :meth:`~VerifyPhases.verify` hashes every table on A and C inside it.
:meth:`~VerifyPhases.end_verify` drops the delta check's slot on B on every way out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pgshift.migration.config import Verify
from pgshift.migration.switchover.report import VerifySection
from pgshift.migration.switchover.results import Plan, Verified
from pgshift.migration.switchover.state import Event, Timeline

if TYPE_CHECKING:
    from concurrent.futures import Future

    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.switchover.report import CutoverReport
    from pgshift.migration.verify.changes import ChangeSet
    from pgshift.migration.verify.delta import DeltaCheck, Forecast
    from pgshift.migration.verify.delta_compare import SideReading
    from pgshift.migration.verify.parity import TableParity


class VerifyRefused(Exception):
    """Refused before the fence by the pre-verification or the forecast; A was not touched."""


class VerifyPhases:
    """Mixed into :class:`pgshift.migration.switchover.cutover.phases.CutoverRun`, whose settings, sessions and report
    it uses."""

    settings: CutoverSettings
    a: PrimaryHook
    b: StandbyHook
    report: CutoverReport
    timeline: Timeline
    log: Logger
    delta: DeltaCheck | None = None
    prefetched: Future[tuple[ChangeSet, SideReading]] | None = None

    def judge(self, results: list[TableParity], into: dict[str, Any] | None = None) -> Verified:
        raise NotImplementedError  # the runbook's (pgshift.migration.switchover.runbook.Switchover)

    def pre_verify(self, plan: Plan) -> None:
        """delta: the slot on B, every table at a frozen point, then rounds of changed rows (see
        pgshift.migration.verify.delta)."""
        from pgshift.migration.setup.standby_slot import SlotCreationError
        from pgshift.migration.verify.delta import DeltaCheck, DeltaLag, DeltaMismatch, DeltaSettings
        from pgshift.migration.verify.frozen import FrozenPointError

        s = self.settings
        section = self.report.verify = VerifySection(s.verify)
        if s.verify == Verify.FULL:
            return
        check = DeltaCheck.for_tables(self.a, DeltaSettings(
            conn_a=s.conn_a, conn_b=s.conn_b, conn_c=s.conn_c, chain_slot=s.slot, publication=s.publication,
            confirm_timeout=s.drain_timeout, max_pause=s.max_replay_pause, parallelism=s.parallelism),
            plan.tables, dict(plan.methods), self.log)
        section.slot = check.settings.slot
        section.rounds = check.rounds  # the check's own list: the report shows every round it adds
        state, _ = self.b.replay_pause_state()
        if state != "not paused":  # a DBA's pause: ours to leave alone, and no frozen point can be caught up
            raise VerifyRefused(f"refused before the fence, A was not touched: B's replay is {state} (someone ran "
                                "pg_wal_replay_pause()); verify=delta needs it replaying: SELECT "
                                "pg_wal_replay_resume() on B, or cut over with verify=full")
        try:
            check.open(self.a, self.b)
            self.delta = check
            check.full_check(self.b)
            check.catch_up(self.a, self.b)
        except (DeltaMismatch, DeltaLag, FrozenPointError, SlotCreationError) as exc:
            raise VerifyRefused(f"refused before the fence, A was not touched: {exc}") from exc
        finally:
            if check.full_results:  # every table at the first frozen point: what a reader of the report looks for
                self.report.tables = [r.as_dict() for r in check.full_results]
            section.rows_verified_before_fence = check.rows_verified_before_fence
            section.replay_resumed = self._replay_running()
        self.timeline.mark(Event.PRE_VERIFIED, time.time())

    def forecast(self) -> Forecast | None:
        """delta: the write downtime to expect now; refused past ``max_write_downtime_seconds``."""
        if self.settings.verify == Verify.FULL:
            return None
        forecast = self.delta_check().forecast()
        limit = self.settings.max_write_downtime
        self.verify_section().forecast = {**forecast.as_dict(), "max_write_downtime_seconds": limit}
        self.log.info("Forecast: %s", forecast.describe())
        if forecast.seconds > limit:
            raise VerifyRefused(f"refused before the fence, A was not touched: {forecast.describe()}, over "
                                f"max_write_downtime_seconds={limit:g}")
        return forecast

    def prefetch(self, final_lsn: str) -> None:
        """delta, right after the fence: A's side of the last changes, read while C drains (A is fenced)."""
        if self.settings.verify == Verify.DELTA:
            self.prefetched = self.delta_check().prefetch(final_lsn)

    def verify(self, plan: Plan) -> Verified:
        """Inside the fence: the rows changed since the last frozen point (delta), or every table (full); A
        (fenced: it cannot change) against C."""
        from pgshift.migration.verify.parity import compare_still

        s = self.settings
        if s.verify == Verify.FULL:
            results = compare_still(s.conn_a, s.conn_c, plan.tables, int(s.parallelism), dict(plan.methods))
            self.verify_section().rows_verified_inside_fence = sum(int(r.source_rows or 0) for r in results)
            return self.judge(results)
        if self.prefetched is None:
            raise RuntimeError("verify=delta inside the fence without A's side read (prefetch)")
        started = time.monotonic()
        results, changes, others = self.delta_check().fence_check(self.prefetched)
        section = self.verify_section()
        inside = section.inside_fence = {**changes.summary(), "seconds": round(time.monotonic() - started, 3)}
        whole = {f"{schema}.{table}" for schema, table in changes.whole}  # the summary's tables_whole
        section.rows_verified_inside_fence = changes.key_count + sum(
            int(r.source_rows or 0) for r in results if r.table in whole)
        section.other_sessions_on_c = others
        for other in others:
            self.log.warning("Session %s of role %s (%s) was busy on C since the first frozen point: the delta "
                             "check assumes replication is C's only writer", other["pid"], other["role"],
                             other["application_name"] or "no application_name")
        return self.judge(results, into=inside)

    def end_verify(self) -> None:
        """Drop the delta check's slot on B (every way out)."""
        if self.delta is not None:
            self.delta.close(self.b)

    def end_verify_in_new_session(self) -> None:
        """:meth:`end_verify` from outside the phases (the task is being killed): resume B's replay if a frozen point
        of this run holds it, then drop the slot, in sessions of their own."""
        from pgshift.migration.hooks.standby import StandbyHook

        if self.delta is None:
            return
        with StandbyHook(self.settings.conn_b) as b:
            if self.delta.holding_replay or self.delta.holding_shared:
                b.resume_replay()
                self.log.warning("B's replay resumed: the task was killed at a frozen point")
            self.delta.close(b)

    def verify_section(self) -> VerifySection:
        """The report's ``verify``, begun by :meth:`pre_verify`."""
        if self.report.verify is None:
            raise RuntimeError("the cutover's verification without its report section: pre_verify did not run")
        return self.report.verify

    def delta_check(self) -> DeltaCheck:
        """verify=delta's check, opened by :meth:`pre_verify` (its slot on B exists while it is set)."""
        if self.delta is None:
            raise RuntimeError("verify=delta without its check: pre_verify did not run")
        return self.delta

    def _replay_running(self) -> bool | None:
        try:
            return self.b.replay_pause_state()[0] == "not paused"
        except Exception:  # noqa: BLE001 - only a report figure
            return None
