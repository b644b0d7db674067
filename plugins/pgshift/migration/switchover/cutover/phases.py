"""The cutover's phases, each returning what it did as a frozen result and noting it in the report.

Before the fence, where a refusal leaves nothing to undo: :meth:`CutoverRun.take_lease`,
:meth:`~CutoverRun.gate` (the readings once more, right before fencing) and :meth:`~CutoverRun.plan`.
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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.report import cutover_summary, write_json
from pgshift.migration.checks.gate import GateSpec, gate_reading
from pgshift.migration.switchover.cutover.access_phases import AccessAbort, AccessPhases
from pgshift.migration.switchover.cutover.fallback_phases import FallbackArmError, FallbackPhases
from pgshift.migration.switchover.cutover.results import (
    Committed,
    Drained,
    Fenced,
    Finalized,
    GateReading,
    Plan,
    Ready,
    SequencesSet,
    Target,
    Verified,
    iso,
)
from pgshift.migration.switchover.cutover.settings import CutoverSettings
from pgshift.migration.switchover.cutover.verify_phases import VerifyPhases, VerifyRefused
from pgshift.migration.switchover.drain import DrainTimeout, wait_confirmed
from pgshift.migration.switchover.fence import FenceError, FenceRecord, apply_fence, lift_fence, plan_fence
from pgshift.migration.switchover.lease import (
    READY,
    LeaseLost,
    commit_point,
    lease_holder,
    read_marker,
    take_lease,
    write_marker,
)
from pgshift.migration.switchover.sequences import read_sequences, set_sequences
from pgshift.migration.verify.parity import TableParity, compare_live, hash_methods

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook


class CutoverAbort(Exception):
    """A reason to stop the cutover and lift the fence."""


def new_report(dag_id: str, settings: CutoverSettings, *, dry_run: bool) -> dict[str, Any]:
    return {"dag_id": dag_id, "run_id": settings.run_id, "action": "cutover", "dry_run": dry_run,
            "mode": settings.mode, "started_at": iso(time.time()), "timeline": {}}


class CutoverRun(AccessPhases, VerifyPhases, FallbackPhases):
    """One attempt of one cutover: its sessions on A, B and C, its report, and the fence it set (if any).
    The phases that make C ready for the application are
    :class:`~pgshift.migration.switchover.cutover.access_phases.AccessPhases`,
    the verification's :class:`~pgshift.migration.switchover.cutover.verify_phases.VerifyPhases`."""

    def __init__(self, settings: CutoverSettings, a: PrimaryHook, b: StandbyHook, c: TargetHook,
                 report: dict[str, Any], log: Logger) -> None:
        self.settings, self.a, self.b, self.c, self.report, self.log = settings, a, b, c, report, log
        self.timeline: dict[str, str | None] = report["timeline"]
        self.fence_record: FenceRecord | None = None  # what to undo; set before the fence is applied
        self.delta = None  # verify=delta's check, once its slot exists
        self.login_roles: list[str] = []

    @classmethod
    @contextmanager
    def connect(cls, settings: CutoverSettings, report: dict[str, Any], log: Logger) -> Iterator[CutoverRun]:
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.standby import StandbyHook
        from pgshift.migration.hooks.target import TargetHook

        with (PrimaryHook(settings.conn_a) as a, StandbyHook(settings.conn_b) as b,
              TargetHook(settings.conn_c) as c):
            yield cls(settings, a, b, c, report, log)

    # -- before the fence
    def take_lease(self) -> None:
        """First thing: the fence watchdog beside this task knows from the lease that a cutover is alive."""
        if not take_lease(self.a):
            holder = lease_holder(self.a) or {}
            raise AirflowFailException(
                f"Cutover refused before the fence: another cutover holds the lease on A (backend pid "
                f"{holder.get('pid')}, since {holder.get('backend_start')}); A was not touched")

    def gate(self, spec: GateSpec) -> GateReading:
        """One reading in bounds right before the fence, allowing a passing blip (up to 5 readings)."""
        for _ in range(5):
            problems, figures = gate_reading(spec)
            self.report["gate"] = figures
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
        self.report["hash_methods"] = {f"{s}.{t}": m for (s, t), m in methods.items()}
        matviews = tuple((r.schema, r.name) for r in self.a.materialized_views(scope))
        large_objects = self.a.large_object_count()
        if large_objects:  # preflight refused them unless accept_large_object_loss: say what stays behind
            self.report["not_migrated"] = {"large_objects": large_objects}
            self.log.warning("A has %d large object(s): logical replication does not carry them, C will not have "
                             "them (accepted at setup with accept_large_object_loss)", large_objects)
        return Plan(scope, in_scope, methods, matviews)

    # -- the cutover
    def fence(self, roles: list[str]) -> Fenced:
        path = self.settings.fence_path
        record = self.fence_record = plan_fence(self.a, roles, self.settings.run_id)
        record.save(path)  # written first: an interrupted run can be undone
        apply_fence(self.a, record, roles)
        record.save(path)
        if record.final_lsn is None or record.fenced_at is None:
            raise FenceError("the fence recorded no final LSN")  # apply_fence sets both or raises
        self.timeline["fenced"] = iso(record.fenced_at)
        self.timeline["sessions_ended"] = iso(record.terminated_at)
        self.timeline["final_lsn_taken"] = iso(record.final_lsn_at)
        self.report["terminated_sessions"] = record.terminated
        self.report["unfenced_sessions"] = record.unfenced_sessions
        for s in record.unfenced_sessions:
            self.log.warning("Session %s of role %s is still connected to A and is not fenced", s["pid"], s["usename"])
        self.report["final_lsn"] = record.final_lsn
        return Fenced(record.final_lsn, record.fenced_at, record.terminated, record.unfenced_sessions)

    def drain(self, lsn: str) -> Drained:
        """Until B has replayed ``lsn`` and C (or DMS) has confirmed it on B's slot."""
        replayed, confirmed = self._wait_confirmed(lsn, flush=self.c if self.settings.mode == "native" else None)
        self.timeline["b_replayed"], self.timeline["drained"] = iso(replayed), iso(confirmed)
        return Drained(lsn, replayed, confirmed)

    def set_sequences(self, plan: Plan) -> SequencesSet:
        return self._sequences(plan, dry_run=False)

    def commit(self) -> Committed:
        """The point of no return, and only while this session still holds the lease: from here on the fence
        watchdog leaves A fenced even if this task dies."""
        record = self._record()
        marker = commit_point(self.a, record.database, read_marker(self.a))
        record.state = "committed"
        now = time.time()
        self.timeline["committed"] = iso(now)
        return Committed(marker, now)

    def finalize(self, committed: Committed) -> Finalized:
        """C becomes the primary: the subscription is dropped (native) or the DMS task stopped."""
        record = self._record()
        self._stop_replication()
        record.state = "finalized"
        record.save(self.settings.fence_path)
        now = time.time()
        self.timeline["finalized"] = iso(now)
        write_marker(self.a, record.database, committed.marker, READY, "cutover")
        return Finalized(now)

    def ready(self) -> Ready:
        now = time.time()
        self.timeline["ready"] = iso(now)
        downtime = round(now - self.fence_record.fenced_at, 3) \
            if self.fence_record and self.fence_record.fenced_at else None
        if downtime is not None:
            self.report["write_downtime_seconds"] = downtime
        self.report["status"] = "ready"
        return Ready(now, downtime)

    # -- the dry run's own phases
    def target(self) -> Target:
        lsn, now = self.a.final_wal_lsn(), time.time()
        self.timeline["target_lsn_taken"] = iso(now)
        self.report["final_lsn"] = lsn
        return Target(lsn, now)

    def verify_live(self, plan: Plan) -> Verified:
        """A (taking writes) against C: only tables that did not move while compared are judged."""
        s = self.settings

        def wait_target_confirmed(lsn: str) -> None:
            self._wait_confirmed(lsn, flush=None)

        return self._judge(compare_live(s.conn_a, s.conn_c, plan.tables, parallelism=int(s.parallelism),
                                        source_position=self.a.final_wal_lsn,
                                        wait_target_confirmed=wait_target_confirmed, methods=dict(plan.methods)))

    def preview_sequences(self, plan: Plan) -> SequencesSet:
        """What :meth:`set_sequences` would set, and whether every sequence is on C; sets nothing."""
        return self._sequences(plan, dry_run=True)

    def passed(self) -> Ready:
        now = time.time()
        self.timeline["ready"] = iso(now)
        self.report["status"] = "dry run passed"
        return Ready(now, None)

    # -- the end
    def finish(self) -> dict[str, Any]:
        """Write the report and say how it went; returns the task's XCom."""
        path = write_json(self.settings.run_dir / "report.json", self.report)
        self.log.info("%s\nReport: %s", cutover_summary(self.report), path)
        return {"report": str(path), "status": self.report["status"],
                "write_downtime_seconds": self.report.get("write_downtime_seconds"),
                "final_lsn": self.report["final_lsn"]}

    def abort(self, exc: BaseException) -> AirflowFailException:
        """Lift the fence if this attempt set it and write the report; returns the error that fails the task."""
        reason = (str(exc) if isinstance(exc, CutoverAbort | AccessAbort | FallbackArmError | LeaseLost | VerifyRefused)
                  else f"{type(exc).__name__}: {exc}")
        self.report["status"] = "rolled back" if self.fence_record else "failed"
        self.report["error"] = reason
        lifted = self.rollback()
        if lifted:
            self.timeline["unfenced"] = iso(time.time())
        write_json(self.settings.run_dir / "report.json", self.report)
        self.log.error("%s", cutover_summary(self.report))
        if lifted:
            roles = ", ".join(self._record().roles) or "none"
            return AirflowFailException(
                f"Cutover failed after the fence and was rolled back: A is unfenced (roles {roles} can log in "
                f"again, default_transaction_read_only restored). Reason: {reason}")
        return AirflowFailException(f"Cutover {'dry run ' if self.report['dry_run'] else ''}failed: {reason}")

    def rollback(self, a: PrimaryHook | None = None) -> bool:
        """Lift the fence if this attempt set it and has not finalized, in ``a`` (default: this run's session on A,
        or a new one if that is the broken thing); True if it did."""
        from pgshift.migration.hooks.primary import PrimaryHook

        record = self.fence_record
        if not record or record.state not in ("fenced", "committed"):
            return False
        try:
            lift_fence(self.a if a is None else a, record)
        except Exception:  # noqa: BLE001 - the connection may be the broken thing: try a fresh one
            with PrimaryHook(self.settings.conn_a) as fresh:
                lift_fence(fresh, record)
        record.save(self.settings.fence_path)
        self.log.warning("Fence lifted: roles %s can log in again; database read-only default restored",
                         ", ".join(record.roles) or "none")
        return True

    def rollback_in_new_session(self) -> None:
        """:meth:`rollback` from outside the phases (the task is being killed): this run's session may be busy."""
        from pgshift.migration.hooks.primary import PrimaryHook

        with PrimaryHook(self.settings.conn_a) as a:
            self.rollback(a)

    # -- shared by the phases
    def _record(self) -> FenceRecord:
        if self.fence_record is None:
            raise FenceError("A is not fenced by this attempt")  # a phase out of runbook order
        return self.fence_record

    def _wait_confirmed(self, lsn: str, flush: TargetHook | None) -> tuple[float | None, float]:
        s = self.settings
        try:
            times = wait_confirmed(self.b, s.slot, lsn, float(s.drain_timeout), nudge=self.a, flush=flush)
        except DrainTimeout as exc:
            raise CutoverAbort(f"drain failed: {exc}") from exc
        self.log.info("Drained: B replayed and slot %r confirmed A's LSN %s", s.slot, lsn)
        return times

    def _judge(self, results: list[TableParity], into: dict[str, Any] | None = None) -> Verified:
        """Log and record (in ``into``, default the report) each table's result; CutoverAbort if any differs."""
        for r in results:
            (self.log.info if r.status in ("equal", "moving") else self.log.error)("verify %s", r.describe())
        (self.report if into is None else into)["tables"] = [p.as_dict() for p in results]
        bad = [p for p in results if p.status in ("differs", "error")]
        if bad:
            raise CutoverAbort(f"parity mismatch A vs C in {len(bad)} table(s): "
                               + "; ".join(p.describe() for p in bad))
        now = time.time()
        self.timeline["verified"] = iso(now)
        return Verified(results, now)

    def _sequences(self, plan: Plan, *, dry_run: bool) -> SequencesSet:
        done, problems = set_sequences(self.c, read_sequences(self.a, plan.scope), dry_run=dry_run)
        self.report["sequences"] = done
        if problems:
            raise CutoverAbort("; ".join(problems))
        now = time.time()
        self.timeline["sequences_set"] = iso(now)
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

