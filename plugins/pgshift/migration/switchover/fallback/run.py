"""Action ``fallback``: gate -> fence C -> drain (A confirms C's final LSN) -> verify C against A -> sequences
C -> A -> drop the reverse subscription -> unfence A -> ready. Any failure after C's fence lifts it again and
leaves A fenced (see :meth:`FallbackRun.abort`). The dry run fences nothing: it drains to C's current position and
verifies while C takes writes.

C is fenced with :mod:`pgshift.migration.switchover.fence`, as the cutover fences A (NOLOGIN, read-only default,
sessions ended, its
own marker on C), and the fallback holds the lease (:mod:`pgshift.migration.switchover.lease`) on C while it runs,
which is how
action ``finish`` knows a fallback is under way. A's fence is lifted from A's own marker, which names the roles
the cutover took LOGIN from and A's earlier read-only default.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.report import write_json
from pgshift.migration.switchover.cutover.results import iso
from pgshift.migration.switchover.fence import (
    FenceError,
    FenceRecord,
    apply_fence,
    fence_problems,
    lift_fence,
    plan_fence,
)
from pgshift.migration.switchover.lease import READY, lease_holder, read_marker, take_lease
from pgshift.migration.switchover.sequences import read_sequences, set_sequences
from pgshift.migration.verify.parity import TableParity, compare_live, compare_still, hash_methods

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.scope import Scope
    from pgshift.migration.verify.parity import Table


class FallbackAbort(Exception):
    """A reason to stop the fallback and lift C's fence."""


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

    @property
    def fence_path(self) -> Path:
        return self.run_dir / "fence_c.json"


@dataclass(frozen=True)
class FallbackPlan:
    scope: Scope
    tables: list[Table]
    methods: dict[Table, str]


def new_report(dag_id: str, s: FallbackSettings, *, dry_run: bool) -> dict[str, Any]:
    return {"dag_id": dag_id, "run_id": s.run_id, "action": "fallback", "dry_run": dry_run,
            "started_at": iso(time.time()), "timeline": {}}


class FallbackRun:
    """One attempt of one fallback: its sessions on A and C (both
    :class:`~pgshift.migration.hooks.fallback.WayBackHook`),
    its report, C's fence (if set) and A's fence (to lift)."""

    def __init__(self, s: FallbackSettings, a: WayBackHook, c: WayBackHook, report: dict[str, Any],
                 log: Logger) -> None:
        self.settings, self.a, self.c, self.report, self.log = s, a, c, report, log
        self.timeline: dict[str, str | None] = report["timeline"]
        self.c_fence: FenceRecord | None = None
        self.a_fence: FenceRecord | None = None
        self.a_unfenced = False  # past this, C's fence stays: A takes writes

    @classmethod
    @contextmanager
    def connect(cls, s: FallbackSettings, report: dict[str, Any], log: Logger) -> Iterator[FallbackRun]:
        from pgshift.migration.hooks.fallback import WayBackHook

        with WayBackHook(s.conn_a) as a, WayBackHook(s.conn_c) as c:
            a.session_read_write()  # a session opened on a fenced A starts read-only
            yield cls(s, a, c, report, log)

    # -- before C's fence: refusals change nothing
    def take_lease(self) -> None:
        if not take_lease(self.c):
            holder = lease_holder(self.c) or {}
            raise AirflowFailException(f"Fallback refused: another fallback or finish holds the lease on C (backend "
                                       f"pid {holder.get('pid')}); nothing was changed")

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
        self.report["app_roles"] = roles
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
        s = self.settings
        deadline = time.monotonic() + s.window
        in_a_row, taken = 0, 0
        last: list[str] = []
        while True:
            problems, reading = self.gate_reading()
            taken += 1
            self.report["gate"] = reading
            if problems:
                in_a_row, last = 0, problems
                self.log.warning("Fallback gate reading %d out of bounds: %s", taken, "; ".join(problems))
            else:
                in_a_row += 1
                self.log.info("Fallback gate reading %d in bounds (%d/%d): C->A lag %s bytes", taken, in_a_row,
                              s.readings, reading["lag_bytes"])
            if in_a_row >= s.readings:
                return
            if time.monotonic() + s.interval > deadline:
                raise AirflowFailException(
                    f"Fallback refused before C's fence: not {s.readings} readings in bounds in a row within "
                    f"{s.window:g} s ({taken} taken); nothing was changed. Last problems:\n"
                    + "\n".join(f"  - {p}" for p in last))
            time.sleep(s.interval)

    # -- the fallback
    def fence_c(self, roles: list[str]) -> str:
        """C's application roles lose LOGIN, C defaults to read-only, their sessions end; returns C's final LSN."""
        record = self.c_fence = plan_fence(self.c, roles, self.settings.run_id)
        record.save(self.settings.fence_path)
        apply_fence(self.c, record, roles)
        record.save(self.settings.fence_path)
        if record.final_lsn is None or record.fenced_at is None:
            raise FenceError("C's fence recorded no final LSN")
        self.timeline["c_fenced"] = iso(record.fenced_at)
        self.timeline["c_final_lsn_taken"] = iso(record.final_lsn_at)
        self.report["terminated_sessions"] = record.terminated
        self.report["c_final_lsn"] = record.final_lsn
        return record.final_lsn

    def drain(self, lsn: str) -> float:
        """Until A's subscription has confirmed ``lsn`` on C's slot. C gets a running-xacts record and A a
        synchronous empty commit every 0.1 s, as in :func:`pgshift.migration.switchover.drain.wait_confirmed`, so the
        confirmation does
        not wait for status intervals."""
        s = self.settings
        deadline = time.monotonic() + s.drain_timeout
        last_nudge, nudge = 0.0, True
        while True:
            slot = self.c.reverse_slot(s.subscription, lsn)
            if slot is None:
                raise FallbackAbort(f"slot {s.subscription!r} on C is gone: nothing can confirm {lsn}")
            if slot.confirmed:
                now = time.time()
                self.timeline["a_drained"] = iso(now)
                self.log.info("Drained: A's subscription confirmed C's LSN %s", lsn)
                return now
            if time.monotonic() > deadline:
                raise FallbackAbort(f"drain failed: A did not confirm C's LSN {lsn} within {s.drain_timeout:g} s "
                                    f"(slot {s.subscription!r} confirmed {slot.confirmed_flush_lsn})")
            if time.monotonic() - last_nudge > 0.1:
                self.a.flush_wal()
                if nudge:
                    try:
                        self.c.log_standby_snapshot()
                    except Exception as exc:  # noqa: BLE001 - superuser only on PostgreSQL: Aurora's master user
                        nudge = False  # is not one; A then confirms at its status interval, up to seconds later
                        self.log.warning("No nudge on C (%s): the drain waits for A's status interval", exc)
                last_nudge = time.monotonic()
            time.sleep(0.02)

    def verify(self, plan: FallbackPlan) -> None:
        """C (fenced: it cannot change) against A, table by table: every row count and content hash equal."""
        s = self.settings
        self._judge(compare_still(s.conn_c, s.conn_a, plan.tables, s.parallelism, plan.methods))

    def verify_live(self, plan: FallbackPlan) -> None:
        """The dry run's: C (taking writes) against A; only tables that did not move while compared are judged."""
        s = self.settings

        def wait_target_confirmed(lsn: str) -> None:
            self.drain(lsn)

        self._judge(compare_live(s.conn_c, s.conn_a, plan.tables, parallelism=s.parallelism,
                                 source_position=self.c.final_wal_lsn, wait_target_confirmed=wait_target_confirmed,
                                 methods=plan.methods))

    def verify_access(self, roles: list[str]) -> None:
        """The roles' effective privileges, owners, RLS flags, policies and default privileges equal on C and A
        (:func:`pgshift.migration.access.sync.access_parity`): a GRANT made on C since the cutover is not replicated
        to A."""
        from pgshift.migration.access.sync import AccessSpec, access_parity

        s = self.settings
        spec = AccessSpec.from_params(schemas=s.schemas, tables=s.tables, app_roles=roles)
        parity = access_parity(self.a, self.c, spec, roles)
        self.report["privilege_parity"] = parity.as_report()
        if not parity.ok:
            raise FallbackAbort("privileges on A differ from C's (a change made on C since the cutover is not "
                                "replicated): " + "; ".join(parity.differences()))
        self.timeline["access_verified"] = iso(time.time())

    def set_sequences(self, plan: FallbackPlan, *, dry_run: bool = False) -> None:
        """Sequences are not replicated: A's continue after C's."""
        done, problems = set_sequences(self.a, read_sequences(self.c, plan.scope), dry_run=dry_run)
        # pgshift.migration.switchover.sequences speaks of A -> C; here C is the source and A the target.
        names = {"a_last_value": "c_last_value", "c_before": "a_before", "c_after": "a_after"}
        self.report["sequences"] = [{names.get(k, k): v for k, v in d.items()} for d in done]
        if problems:
            raise FallbackAbort("; ".join(p.replace("on A but not on C", "on C but not on A") for p in problems))
        self.timeline["sequences_set"] = iso(time.time())

    def drop_reverse(self) -> None:
        """DROP SUBSCRIPTION on A, which drops its slot on C too: nothing flows C -> A any more."""
        self.a.drop_subscription(self.settings.subscription)
        self.timeline["reverse_dropped"] = iso(time.time())
        self.log.info("Dropped subscription %r on A (and its slot on C)", self.settings.subscription)

    def unfence_a(self) -> None:
        """The roles the cutover fenced on A log in again; A's read-only default is what it was before the
        cutover. From here on C's fence stays: A takes writes."""
        if self.a_fence is None:
            raise FenceError("A's fence marker was not read")
        lift_fence(self.a, self.a_fence, by="fallback")
        self.a_unfenced = True
        if self.c_fence:
            self.c_fence.state = "finalized"  # a retry must not lift C's fence now
            self.c_fence.save(self.settings.fence_path)
        self.timeline["a_unfenced"] = iso(time.time())
        self.report["login_granted_on_a"] = list(self.a_fence.roles)

    def drop_publication(self) -> None:
        """C's publication, which nothing reads any more; a failure only warns (A is already the primary)."""
        try:
            self.c.drop_publication(self.settings.publication)
        except Exception as exc:  # noqa: BLE001 - leftover, named in the report
            self.report["leftovers"] = [f"publication {self.settings.publication} on C: {exc}"]
            self.log.warning("Could not drop publication %s on C: %s", self.settings.publication, exc)

    def ready(self) -> None:
        now = time.time()
        self.timeline["ready"] = iso(now)
        if self.c_fence and self.c_fence.fenced_at:
            self.report["write_downtime_seconds"] = round(now - self.c_fence.fenced_at, 3)
        self.report["status"] = "fallen back"

    def passed(self) -> None:
        self.timeline["ready"] = iso(time.time())
        self.report["status"] = "dry run passed"

    # -- the end
    def finish(self) -> dict[str, Any]:
        path = write_json(self.settings.run_dir / "report.json", self.report)
        self.log.info("%s\nReport: %s", summary(self.report), path)
        return {"report": str(path), "status": self.report["status"],
                "write_downtime_seconds": self.report.get("write_downtime_seconds"),
                "c_final_lsn": self.report.get("c_final_lsn")}

    def abort(self, exc: BaseException) -> AirflowFailException:
        """Lift C's fence if this attempt set it and A is still fenced; returns the error that fails the task."""
        reason = str(exc) if isinstance(exc, FallbackAbort) else f"{type(exc).__name__}: {exc}"
        self.report["status"] = "rolled back" if self.c_fence else "failed"
        self.report["error"] = reason
        lifted = self.rollback()
        if lifted:
            self.timeline["c_unfenced"] = iso(time.time())
        write_json(self.settings.run_dir / "report.json", self.report)
        self.log.error("%s", summary(self.report))
        if lifted:
            roles = ", ".join(self.c_fence.roles if self.c_fence else []) or "none"
            gone = " The reverse subscription was dropped already: re-arm the way back by hand." \
                if "reverse_dropped" in self.timeline else ""
            return AirflowFailException(f"Fallback failed after C's fence and was rolled back: C is unfenced (roles "
                                        f"{roles} can log in again), A stays fenced.{gone} Reason: {reason}")
        if self.a_unfenced:
            return AirflowFailException(f"Fallback finished (A is the primary, C stays fenced) but: {reason}")
        return AirflowFailException(f"Fallback {'dry run ' if self.report['dry_run'] else ''}failed: {reason}")

    def rollback(self, c: WayBackHook | None = None) -> bool:
        """Lift C's fence if this attempt set it and A has not been unfenced; True if it did."""
        from pgshift.migration.hooks.fallback import WayBackHook

        record = self.c_fence
        if not record or record.state != "fenced" or self.a_unfenced:
            return False
        try:
            lift_fence(self.c if c is None else c, record, by="fallback rollback")
        except Exception:  # noqa: BLE001 - the connection may be the broken thing: try a fresh one
            with WayBackHook(self.settings.conn_c) as fresh:
                lift_fence(fresh, record, by="fallback rollback")
        record.save(self.settings.fence_path)
        self.log.warning("C's fence lifted: roles %s can log in again; A stays fenced", ", ".join(record.roles))
        return True

    def rollback_in_new_session(self) -> None:
        from pgshift.migration.hooks.fallback import WayBackHook

        with WayBackHook(self.settings.conn_c) as c:
            self.rollback(c)

    def _judge(self, results: list[TableParity]) -> None:
        for r in results:
            (self.log.info if r.status in ("equal", "moving") else self.log.error)("verify %s", r.describe())
        self.report["tables"] = [p.as_dict() for p in results]
        bad = [p for p in results if p.status in ("differs", "error")]
        if bad:
            raise FallbackAbort(f"parity mismatch C vs A in {len(bad)} table(s): "
                                + "; ".join(p.describe() for p in bad))
        self.timeline["verified"] = iso(time.time())


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
    return "\n".join(lines)
