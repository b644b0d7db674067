"""Action ``fallback``, the switchover runbook (:class:`~pgshift.migration.switchover.runbook.Switchover`) from C
to A: gate
-> fence C -> drain (A confirms C's final LSN) -> verify C against A -> privilege parity -> sequences C -> A -> drop
the reverse subscription -> commit (the point of no return) -> unfence A -> ready. Any failure after C's fence and
before A is unfenced lifts C's fence again and leaves A fenced (see :meth:`FallbackRun.abort`). The dry run fences
nothing: it drains to C's current position and verifies while C takes writes.

C is fenced as the cutover fences A (NOLOGIN, read-only default, sessions ended, its own marker on C), and the
fallback holds the lease (:mod:`pgshift.migration.switchover.lease`) on C while it runs: the fence watchdog beside
it lifts C's fence if
the task dies before its commit, and action ``finish`` knows from the lease that a fallback is under way. A's fence
is lifted from A's own marker, which names the roles the cutover took LOGIN from and A's earlier read-only default.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.checks.in_a_row import Refusal, readings_in_a_row
from pgshift.migration.switchover.drain import wait_reverse_confirmed
from pgshift.migration.switchover.fence import FenceError, FenceRecord, fence_problems, lift_fence
from pgshift.migration.switchover.lease import READY, read_marker
from pgshift.migration.switchover.report import FallbackReport
from pgshift.migration.switchover.results import Committed, Verified
from pgshift.migration.switchover.runbook import Switchover, SwitchoverAbort
from pgshift.migration.switchover.sequences import read_sequences, set_sequences
from pgshift.migration.switchover.state import FALLBACK, Event, FenceState, Outcome
from pgshift.migration.verify.parity import compare_live, compare_still, hash_methods

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.scope import Scope
    from pgshift.migration.verify.parity import Table


FallbackAbort = SwitchoverAbort  # a reason to stop the fallback and lift C's fence
GATE_REFUSAL = Refusal("Fallback refused before C's fence", "nothing was changed", "Last problems")  # one or several


@dataclass(frozen=True)
class FallbackSettings:
    """The rendered fields of the fallback task that its phases use."""

    run_id: str
    conn_a: str
    conn_c: str
    publication: str  # on C
    subscription: str  # on A; its slot on C has the same name
    app_roles: list[str]  # fenced on C; empty: the roles the cutover fenced on A (A's marker)
    protected: dict[str, str]  # roles on C that must keep LOGIN -> why
    schemas: list[str] | None
    tables: list[str] | None
    max_lag_bytes: int
    readings: int
    interval: float
    window: float
    drain_timeout: float
    parallelism: int
    run_dir: Path
    database: str | None = None  # a part of a fallback of several databases (its connections are qualified)

    @property
    def fence_path(self) -> Path:
        return self.run_dir / "fence_c.json"


@dataclass(frozen=True)
class FallbackPlan:
    scope: Scope
    tables: list[Table]
    methods: dict[Table, str]


def new_report(dag_id: str, s: FallbackSettings, *, dry_run: bool) -> FallbackReport:
    return FallbackReport(dag_id, s.run_id, dry_run=dry_run)


class FallbackRun(Switchover[FallbackReport]):
    """One attempt of one fallback: the switchover from C (fenced) to A, with its sessions on A and C (both
    :class:`~pgshift.migration.hooks.fallback.WayBackHook`) and A's fence (to lift)."""

    direction = FALLBACK

    def __init__(self, s: FallbackSettings, a: WayBackHook, c: WayBackHook, report: FallbackReport,
                 log: Logger) -> None:
        super().__init__(s, c, s.conn_c, report, log)
        self.settings, self.a, self.c = s, a, c
        self.a_fence: FenceRecord | None = None
        self.a_unfenced = False  # past this, C's fence stays: A takes writes
        self.reverse_dropped_in: list[str] = []  # several databases: where the reverse subscription is gone

    @classmethod
    @contextmanager
    def connect(cls, s: FallbackSettings, report: FallbackReport, log: Logger) -> Iterator[FallbackRun]:
        from pgshift.migration.hooks.fallback import WayBackHook

        with WayBackHook(s.conn_a) as a, WayBackHook(s.conn_c) as c:
            a.session_read_write()  # a session opened on a fenced A starts read-only
            yield cls(s, a, c, report, log)

    # -- before C's fence (the lease: Switchover.take_lease): refusals change nothing
    def check(self) -> list[str]:
        """A fenced by a finished cutover, the way back armed and working, C's roles fenceable; returns the roles
        to fence on C."""
        s = self.settings
        problems = []
        marker = read_marker(self.a)
        if marker is None or marker.state != READY:
            problems.append("A is not fenced by a finished cutover (no pgshift.fence marker in state ready): "
                            f"found {marker.state if marker else 'none'}")
        else:
            self.a_fence = FenceRecord.from_marker(self.a.conn_params()["dbname"], marker)
        sub = self.a.subscription(s.subscription)
        if sub is None:
            problems.append(f"no subscription {s.subscription!r} on A: the cutover did not arm the way back")
        elif not sub.enabled:
            problems.append(f"subscription {s.subscription!r} on A is disabled: ALTER SUBSCRIPTION "
                            f"{s.subscription} ENABLE, and let it catch up")
        if self.c.reverse_slot(s.subscription) is None:
            problems.append(f"no slot {s.subscription!r} on C: the way back is broken")
        roles = list(s.app_roles) or (list(marker.roles) if marker else [])
        problems += fence_problems(self.c, roles, s.protected, server="C")
        if problems:
            raise AirflowFailException("Fallback refused before C's fence; nothing was changed:\n"
                                       + "\n".join(f"  - {p}" for p in problems))
        self.report.app_roles = roles
        return roles

    def plan(self) -> FallbackPlan:
        from pgshift.migration.scope import Scope

        s = self.settings
        scope = Scope.from_params(s.schemas, s.tables)
        tables = [(t.schema, t.table) for t in self.c.scope_tables(scope, "public")]
        return FallbackPlan(scope, tables, hash_methods(self.c, tables))

    def gate_reading(self) -> tuple[list[str], dict[str, Any]]:
        """C -> A: the slot's lag behind C's position and the subscription's apply worker on A."""
        s = self.settings
        slot = self.c.reverse_slot(s.subscription)
        worker = self.a.apply_worker(s.subscription)
        reading = {"lag_bytes": slot.lag_bytes if slot else None, "wal_status": slot.wal_status if slot else None,
                   "slot_active": slot.active if slot else None,
                   "apply_worker_pid": worker.apply_worker_pid if worker else None,
                   "apply_error_count": worker.apply_error_count if worker else None}
        problems = []
        if slot is None or slot.wal_status == "lost":  # waiting cannot mend it
            raise AirflowFailException(f"Fallback refused before C's fence: slot {s.subscription!r} on C is "
                                       f"{'gone' if slot is None else 'lost'}: the way back is broken; nothing was "
                                       "changed")
        if slot.lag_bytes is None or slot.lag_bytes > s.max_lag_bytes:
            problems.append(f"C->A lag {slot.lag_bytes} bytes is over the threshold of {s.max_lag_bytes} bytes")
        if not worker or worker.apply_worker_pid is None:
            problems.append(f"subscription {s.subscription!r} on A has no apply worker running "
                            f"({worker.apply_error_count if worker else '?'} apply errors)")
        return problems, reading

    def gate(self) -> None:
        """``readings`` consecutive readings in bounds within ``window`` seconds, else refuse."""
        def read(_: int) -> tuple[list[str], dict[str, Any]]:
            problems, reading = self.gate_reading()
            self.report.gate = reading
            return problems, reading

        s = self.settings
        readings_in_a_row(read, count=s.readings, window=s.window, interval=s.interval, refusal=GATE_REFUSAL,
                          log=self.log, name="Fallback gate", said=lambda r: f"C->A lag {r['lag_bytes']} bytes")

    # -- the fallback (the lease, fence, drain, judge and commit: Switchover)
    def verify(self, plan: FallbackPlan) -> Verified:
        """C (fenced: it cannot change) against A, table by table: every row count and content hash equal."""
        s = self.settings
        return self.judge(compare_still(s.conn_c, s.conn_a, plan.tables, s.parallelism, plan.methods))

    def verify_live(self, plan: FallbackPlan) -> Verified:
        """The dry run's: C (taking writes) against A; only tables that did not move while compared are judged."""
        s = self.settings

        def wait_target_confirmed(lsn: str) -> None:
            self.drain(lsn)

        return self.judge(compare_live(s.conn_c, s.conn_a, plan.tables, parallelism=s.parallelism,
                                       source_position=self.c.final_wal_lsn,
                                       wait_target_confirmed=wait_target_confirmed, methods=plan.methods))

    def verify_access(self, roles: list[str]) -> None:
        """The roles' effective privileges, owners, RLS flags, policies and default privileges equal on C and A
        (:func:`pgshift.migration.access.sync.access_parity`): a GRANT made on C since the cutover is not replicated to
        A."""
        from pgshift.migration.access.sync import AccessSpec, access_parity

        s = self.settings
        spec = AccessSpec.from_params(schemas=s.schemas, tables=s.tables, app_roles=roles)
        parity = access_parity(self.a, self.c, spec, roles, role_settings=False)
        self.report.privilege_parity = parity.as_report()
        if not parity.ok:
            raise SwitchoverAbort("privileges on A differ from C's (a change made on C since the cutover is not "
                                "replicated): " + "; ".join(parity.differences()))
        self.timeline.mark(Event.ACCESS_VERIFIED, time.time())

    def set_sequences(self, plan: FallbackPlan, *, dry_run: bool = False) -> None:
        """Sequences are not replicated: A's continue after C's."""
        done, problems = set_sequences(self.a, read_sequences(self.c, plan.scope), dry_run=dry_run)
        # pgshift.migration.switchover.sequences speaks of A -> C; here C is the source and A the target.
        names = {"a_last_value": "c_last_value", "c_before": "a_before", "c_after": "a_after"}
        self.report.sequences = [{names.get(k, k): v for k, v in d.items()} for d in done]
        if problems:
            raise SwitchoverAbort("; ".join(p.replace("on A but not on C", "on C but not on A") for p in problems))
        self.timeline.mark(Event.SEQUENCES_SET, time.time())

    def drop_reverse(self) -> None:
        """DROP SUBSCRIPTION on A, which drops its slot on C too: nothing flows C -> A any more."""
        self.a.drop_subscription(self.settings.subscription)
        self.timeline.mark(Event.REVERSE_DROPPED, time.time())
        self.log.info("Dropped subscription %r on A (and its slot on C)", self.settings.subscription)

    def unfence_a(self, committed: Committed) -> None:
        """The roles the cutover fenced on A log in again; A's read-only default is what it was before the
        cutover. From here on C's fence stays (its marker ``ready``): A takes writes."""
        if self.a_fence is None:
            raise FenceError("A's fence marker was not read")
        lift_fence(self.a, self.a_fence, by="fallback")
        self.a_unfenced = True
        self.timeline.mark(Event.A_UNFENCED, time.time())
        self.report.login_granted_on_a = list(self.a_fence.roles)
        self.settle(committed)

    def drop_publication(self) -> None:
        """C's publication, which nothing reads any more; a failure only warns (A is already the primary)."""
        try:
            self.c.drop_publication(self.settings.publication)
        except Exception as exc:  # noqa: BLE001 - leftover, named in the report
            self.report.leftovers = [f"publication {self.settings.publication} on C: {exc}"]
            self.log.warning("Could not drop publication %s on C: %s", self.settings.publication, exc)

    def ready(self) -> None:
        now = time.time()
        self.timeline.mark(Event.READY, now)
        if self.fence_record and self.fence_record.fenced_at:
            self.report.write_downtime_seconds = round(now - self.fence_record.fenced_at, 3)
        self.report.status = Outcome.FALLEN_BACK

    def passed(self) -> None:
        self.timeline.mark(Event.READY, time.time())
        self.report.status = Outcome.DRY_RUN_PASSED

    # -- what the fallback says (Switchover's)
    def summary(self) -> str:
        return summary(self.report.as_dict())

    def _xcom(self, report_path: Path) -> dict[str, Any]:
        return {"report": str(report_path), "status": str(self.report.status),
                "write_downtime_seconds": self.report.write_downtime_seconds, "c_final_lsn": self.report.final_lsn}

    def _wait_confirmed(self, lsn: str) -> tuple[float | None, float]:
        s = self.settings
        confirmed = wait_reverse_confirmed(self.c, self.a, s.subscription, lsn, s.drain_timeout, self.log)
        self.log.info("Drained: A's subscription confirmed C's LSN %s", lsn)
        return None, confirmed

    def _may_lift(self) -> bool:
        """Never once A is unfenced. Past the commit, A's unfence may have happened without this attempt seeing it
        (a connection lost at the COMMIT): C's fence is lifted only if A's marker, read afresh, says A is fenced."""
        from pgshift.migration.hooks.primary import PrimaryHook

        if self.a_unfenced:
            return False
        if self.fence_record is None or self.fence_record.state != FenceState.COMMITTED:
            return True
        try:
            with PrimaryHook(self.settings.conn_a) as a:
                marker = read_marker(a)
        except Exception as exc:  # noqa: BLE001 - A unknown: C stays fenced (never two writable primaries)
            self.log.error("Cannot read A's fence marker (%s): C stays fenced", exc)
            return False
        return marker is not None and marker.state == READY

    def _after_lift(self) -> str:
        return "; A stays fenced"

    def _failure(self, reason: str, *, lifted: bool) -> str:
        if lifted:
            roles = ", ".join(self.fence_record.roles if self.fence_record else []) or "none"
            gone = " The reverse subscription was dropped already: re-arm the way back by hand." \
                if Event.REVERSE_DROPPED in self.timeline else ""
            if self.reverse_dropped_in:  # several databases: say which
                gone = (" The reverse subscription was dropped already in database(s) "
                        f"{', '.join(self.reverse_dropped_in)}: re-arm the way back there by hand.")
            return (f"Fallback failed after C's fence and was rolled back: C is unfenced (roles {roles} can log in "
                    f"again), A stays fenced.{gone} Reason: {reason}")
        if self.a_unfenced:
            return f"Fallback finished (A is the primary, C stays fenced) but: {reason}"
        if self.fence_record and self.fence_record.state == FenceState.COMMITTED:
            return (f"Fallback failed past its point of no return: C stays fenced and A may already be unfenced; "
                    f"look at A (pgshift.fence on A's database) before lifting anything. Reason: {reason}")
        return f"Fallback {'dry run ' if self.report.dry_run else ''}failed: {reason}"


def summary(report: dict[str, Any]) -> str:
    """A readable account of a fallback report, for the task log."""
    lines = [f"Fallback {'DRY RUN ' if report.get('dry_run') else ''}{str(report.get('status', '?')).upper()} "
             f"(run {report.get('run_id')})"]
    if report.get("error"):
        lines.append(f"  reason: {report['error']}")
    lines += [f"  {step:<17} {when}" for step, when in report.get("timeline", {}).items()]
    if report.get("write_downtime_seconds") is not None:
        lines.append(f"  write downtime    {report['write_downtime_seconds']:.3f} s (C fenced -> A ready)")
    lines += [f"  table {t['table']:<28} {t['status']:<7} rows C {t['source_rows']} A {t['target_rows']}"
              for t in report.get("tables", [])]
    lines += [f"  sequence {s['sequence']:<25} C {s['c_last_value']} -> {s['action']}"
              for s in report.get("sequences", [])]
    for database, part in (report.get("databases") or {}).items():  # several databases: a section each
        lines += [f"  {database}: table {t['table']:<24} {t['status']:<7} rows C {t['source_rows']} "
                  f"A {t['target_rows']}" for t in part.get("tables", [])]
        lines += [f"  {database}: sequence {s['sequence']:<21} C {s['c_last_value']} -> {s['action']}"
                  for s in part.get("sequences", [])]
    return "\n".join(lines)
