"""The cutover's phases (the switchover runbook, :class:`~pgshift.migration.switchover.runbook.Switchover`, from A
to C),
each returning what it did as a frozen result and noting it in the report.

Before the fence, where a refusal leaves nothing to undo: :meth:`CutoverRun.take_lease`,
:meth:`~CutoverRun.gate` (the readings once more, right before fencing), :meth:`~CutoverRun.plan` and
:meth:`~CutoverRun.check_schema` (A's and C's schemas: a difference refuses, :func:`refuse_drift`).
With ``verify=delta`` (the default) the rows are verified before the fence too:
:meth:`~CutoverRun.pre_verify` and :meth:`~CutoverRun.forecast`
(:mod:`pgshift.migration.switchover.cutover.verify_phases`).
Then the cutover: :meth:`~CutoverRun.fence` -> :meth:`~CutoverRun.drain` -> :meth:`~CutoverRun.verify` ->
:meth:`~CutoverRun.set_sequences` -> :meth:`~CutoverRun.commit` (the point of no return) ->
:meth:`~CutoverRun.finalize` -> :meth:`~CutoverRun.ready`, and on any failure :meth:`~CutoverRun.abort`,
which lifts the fence. The dry run has phases of its own instead of the fence and the finalize:
:meth:`~CutoverRun.target`, :meth:`~CutoverRun.verify_live`, :meth:`~CutoverRun.preview_sequences`,
:meth:`~CutoverRun.passed`.

The report (``<run_dir>/report.json``) is what the log summary, the DAG's later tasks and people read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.report import cutover_summary
from pgshift.migration.checks.gate import GateSpec, gate_reading
from pgshift.migration.switchover.cutover.access_phases import AccessAbort, AccessPhases
from pgshift.migration.switchover.cutover.fallback_phases import FallbackArmError, FallbackPhases
from pgshift.migration.switchover.cutover.settings import CutoverSettings
from pgshift.migration.switchover.cutover.verify_phases import VerifyPhases, VerifyRefused
from pgshift.migration.switchover.drain import DrainTimeout, wait_confirmed
from pgshift.migration.switchover.report import CutoverReport
from pgshift.migration.switchover.results import (
    Committed,
    Finalized,
    GateReading,
    Plan,
    Ready,
    SequencesSet,
    Target,
    Verified,
)
from pgshift.migration.switchover.runbook import Switchover, SwitchoverAbort
from pgshift.migration.switchover.sequences import read_sequences, set_sequences
from pgshift.migration.switchover.state import CUTOVER, Event, Outcome
from pgshift.migration.verify.parity import compare_live, hash_methods

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.schema.drift import SchemaDrift


CutoverAbort = SwitchoverAbort  # a reason to stop the cutover and lift the fence


class SchemaDriftRefused(SwitchoverAbort):
    """A's and C's schemas differ: refused before the fence."""


def refuse_drift(drifts: Mapping[str | None, SchemaDrift]) -> None:
    """Refuse the cutover (before the fence, A untouched) if any database's schemas differ, naming every
    difference and its statement (:mod:`pgshift.migration.schema.drift`)."""
    from pgshift.migration.schema.drift import REFUSAL, drift_problems

    problems = drift_problems(drifts)
    if problems:
        raise SchemaDriftRefused(f"refused before the fence, A was not touched: {REFUSAL}:\n"
                                 + "\n".join(f"  - {p}" for p in problems))


def new_report(dag_id: str, settings: CutoverSettings, *, dry_run: bool) -> CutoverReport:
    return CutoverReport(dag_id, settings.run_id, dry_run=dry_run, mode=settings.mode)


class CutoverRun(Switchover[CutoverReport], AccessPhases, VerifyPhases, FallbackPhases):
    """One attempt of one cutover: the switchover from A (fenced) to C, with its sessions on A, B and C.
    The phases that make C ready for the application are
    :class:`~pgshift.migration.switchover.cutover.access_phases.AccessPhases`,
    the verification's :class:`~pgshift.migration.switchover.cutover.verify_phases.VerifyPhases`, the way back's arming
    :class:`~pgshift.migration.switchover.cutover.fallback_phases.FallbackPhases`."""

    direction = CUTOVER
    expected = (*Switchover.expected, AccessAbort, FallbackArmError, VerifyRefused, SchemaDriftRefused)

    def __init__(self, settings: CutoverSettings, a: PrimaryHook, b: StandbyHook, c: TargetHook,
                 report: CutoverReport, log: Logger) -> None:
        super().__init__(settings, a, settings.conn_a, report, log)
        self.settings, self.a, self.b, self.c = settings, a, b, c
        self.login_roles: list[str] = []
        # The sessions the drain nudges A and flushes C in (default: this run's own). A chain of several databases
        # drains in the home run's while its parts' own sessions sync access (DatabaseSetCutover.cut_over).
        self.drain_sessions: tuple[PrimaryHook, TargetHook] | None = None

    @classmethod
    @contextmanager
    def connect(cls, settings: CutoverSettings, report: CutoverReport, log: Logger) -> Iterator[CutoverRun]:
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.standby import StandbyHook
        from pgshift.migration.hooks.target import TargetHook

        with (PrimaryHook(settings.conn_a) as a, StandbyHook(settings.conn_b) as b,
              TargetHook(settings.conn_c) as c):
            yield cls(settings, a, b, c, report, log)

    # -- before the fence (the lease: Switchover.take_lease)
    def gate(self, spec: GateSpec) -> GateReading:
        """One reading in bounds right before the fence, allowing a passing blip (up to 5 readings)."""
        for _ in range(5):
            problems, figures = gate_reading(spec)
            self.report.gate = figures
            if not problems:
                return GateReading(figures)
            time.sleep(0.2)
        raise AirflowFailException("Cutover refused before the fence (final reading); A was not touched:\n"
                                   + "\n".join(f"  - {p}" for p in problems))

    def plan(self, schemas: list[str] | None, tables: list[str] | None) -> Plan:
        from pgshift.migration.scope import Scope

        scope = Scope.from_params(schemas, tables)
        in_scope = [(t.schema, t.table) for t in self.a.scope_tables(scope, "public")]
        methods = hash_methods(self.a, in_scope)
        self.report.hash_methods = {f"{s}.{t}": m for (s, t), m in methods.items()}
        matviews = tuple((r.schema, r.name) for r in self.a.materialized_views(scope))
        large_objects = self.a.large_object_count()
        if large_objects:  # preflight refused them unless accept_large_object_loss: say what stays behind
            self.report.not_migrated = {"large_objects": large_objects}
            self.log.warning("A has %d large object(s): logical replication does not carry them, C will not have "
                             "them (accepted at setup with accept_large_object_loss)", large_objects)
        return Plan(scope, in_scope, methods, matviews)

    def check_schema(self, plan: Plan) -> SchemaDrift:
        """A's and C's schemas compared for the plan's scope, noted in the report; the caller refuses on a
        difference (:func:`refuse_drift`: every database's at once)."""
        from pgshift.migration.schema.drift import drift

        found = drift(self.a, self.c, plan.scope)
        self.report.schema_drift = found.as_report()
        return found

    # -- the cutover (the lease, fence, drain, judge and commit: Switchover)
    def set_sequences(self, plan: Plan) -> SequencesSet:
        return self._sequences(plan, dry_run=False)

    def finalize(self, committed: Committed) -> Finalized:
        """C becomes the primary: the subscription is dropped (native) or the DMS task stopped; A stays fenced."""
        self._stop_replication()
        now = time.time()
        self.timeline.mark(Event.FINALIZED, now)
        self.settle(committed)
        return Finalized(now)

    def ready(self) -> Ready:
        now = time.time()
        self.timeline.mark(Event.READY, now)
        downtime = round(now - self.fence_record.fenced_at, 3) \
            if self.fence_record and self.fence_record.fenced_at else None
        if downtime is not None:
            self.report.write_downtime_seconds = downtime
        self.report.status = Outcome.READY
        return Ready(now, downtime)

    # -- the dry run's own phases
    def target(self) -> Target:
        lsn, now = self.a.final_wal_lsn(), time.time()
        self.timeline.mark(Event.TARGET_LSN_TAKEN, now)
        self.report.final_lsn = lsn
        return Target(lsn, now)

    def verify_live(self, plan: Plan) -> Verified:
        """A (taking writes) against C: only tables that did not move while compared are judged."""
        s = self.settings

        def wait_target_confirmed(lsn: str) -> None:
            self._confirmed(lsn, nudge=self.a, flush=None)

        return self.judge(compare_live(s.conn_a, s.conn_c, plan.tables, parallelism=int(s.parallelism),
                                        source_position=self.a.final_wal_lsn,
                                        wait_target_confirmed=wait_target_confirmed, methods=dict(plan.methods)))

    def preview_sequences(self, plan: Plan) -> SequencesSet:
        """What :meth:`set_sequences` would set, and whether every sequence is on C; sets nothing."""
        return self._sequences(plan, dry_run=True)

    def passed(self) -> Ready:
        now = time.time()
        self.timeline.mark(Event.READY, now)
        self.report.status = Outcome.DRY_RUN_PASSED
        return Ready(now, None)

    # -- what the cutover says (Switchover's)
    def summary(self) -> str:
        return cutover_summary(self.report.as_dict())

    def _xcom(self, report_path: Path) -> dict[str, Any]:
        return {"report": str(report_path), "status": str(self.report.status),
                "write_downtime_seconds": self.report.write_downtime_seconds, "final_lsn": self.report.final_lsn}

    def _failure(self, reason: str, *, lifted: bool) -> str:
        if lifted:
            roles = ", ".join(self.record().roles) or "none"
            return (f"Cutover failed after the fence and was rolled back: A is unfenced (roles {roles} can log in "
                    f"again, default_transaction_read_only restored). Reason: {reason}")
        return f"Cutover {'dry run ' if self.report.dry_run else ''}failed: {reason}"

    def _wait_confirmed(self, lsn: str) -> tuple[float | None, float]:
        """Until B has replayed ``lsn`` and C (or DMS) has confirmed it on B's slot."""
        a, c = self.drain_sessions or (self.a, self.c)
        return self._confirmed(lsn, nudge=a, flush=c if self.settings.mode == "native" else None)

    # -- shared by the phases
    def _confirmed(self, lsn: str, *, nudge: PrimaryHook, flush: TargetHook | None) -> tuple[float | None, float]:
        s = self.settings
        try:
            times = wait_confirmed(self.b, s.slot, lsn, float(s.drain_timeout), nudge=nudge, flush=flush)
        except DrainTimeout as exc:
            raise SwitchoverAbort(f"drain failed: {exc}") from exc
        self.log.info("Drained: B replayed and slot %r confirmed A's LSN %s", s.slot, lsn)
        return times

    def _sequences(self, plan: Plan, *, dry_run: bool) -> SequencesSet:
        done, problems = set_sequences(self.c, read_sequences(self.a, plan.scope), dry_run=dry_run)
        self.report.sequences = done
        if problems:
            raise CutoverAbort("; ".join(problems))
        now = time.time()
        self.timeline.mark(Event.SEQUENCES_SET, now)
        return SequencesSet(done, now)

    def _stop_replication(self) -> None:
        s = self.settings
        if s.mode == "native":
            # One statement, no DISABLE first: if it fails, the subscription is as it was and the rollback
            # leaves a working chain behind.
            self.c.drop_subscription(s.subscription)  # also drops its slot on B
            self.log.info("Dropped subscription %r on C (and its slot on B)", s.subscription)
            return
        from airflow.providers.amazon.aws.hooks.dms import DmsHook

        from pgshift.migration.checks.dms import find_task_arn

        arn = find_task_arn(s.aws_conn_id, s.dms_task_id or "")
        if not arn:
            raise CutoverAbort(f"DMS task {s.dms_task_id!r} is gone: cannot stop it")
        DmsHook(aws_conn_id=s.aws_conn_id or None).stop_replication_task(arn)  # type: ignore[no-untyped-call]
        self.log.info("Stopped DMS task %s", s.dms_task_id)

