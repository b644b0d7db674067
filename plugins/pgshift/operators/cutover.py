"""The cutover: gate, then fence -> drain -> verify -> sequences -> finalize in one task, rolled back on failure.

Everything from the fence to "C is ready" runs in a single task because every task hop under a real
scheduler costs seconds of write downtime. The gate runs before, as its own task: it changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.checks.dms import find_task_arn
from pgshift.checks.gate import GateSpec, fatal_problems, gate_reading, warnings
from pgshift.checks.limits import ChainLimits
from pgshift.drain import DrainTimeout, wait_confirmed
from pgshift.fence import FenceRecord, apply_fence, fence_problems, lift_fence, plan_fence
from pgshift.hooks.postgres import PgShiftHook
from pgshift.lease import (
    COMMITTED,
    FENCED,
    READY,
    LeaseLost,
    commit_point,
    lease_holder,
    read_marker,
    take_lease,
    write_marker,
)
from pgshift.parity import TableParity, compare_live, compare_still, hash_methods
from pgshift.report import cutover_summary, report_root, safe_name, write_json
from pgshift.scope import Scope
from pgshift.sequences import read_sequences, set_sequences


class CutoverAbort(Exception):
    """A reason to stop the cutover and lift the fence."""


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") if ts else None


class _CutoverBase(BaseOperator):
    template_fields: Sequence[str] = (
        "mode", "conn_a", "conn_a_replication", "conn_b", "conn_b_source", "conn_c", "physical_slot", "slot",
        "subscription", "app_roles", "thresholds", "aws_conn_id", "dms_task_id", "dry_run", "report_dir",
    )
    # The param, shadowing BaseOperator.dry_run() (Airflow's "render the templates only"), as it always has.
    dry_run: bool  # type: ignore[assignment]

    def __init__(self, *, mode: str, conn_a: str, conn_a_replication: str, conn_b: str, conn_b_source: str,
                 conn_c: str, physical_slot: str, slot: str, subscription: str, app_roles: list[str],
                 thresholds: ChainLimits | Mapping[str, Any], aws_conn_id: str | None = None,
                 dms_task_id: str | None = None, dry_run: bool = True, report_dir: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode, self.conn_a, self.conn_a_replication, self.conn_b = mode, conn_a, conn_a_replication, conn_b
        self.conn_b_source, self.conn_c = conn_b_source, conn_c
        self.physical_slot, self.slot, self.subscription = physical_slot, slot, subscription
        self.app_roles = app_roles  # templated: a list once rendered
        self.thresholds = thresholds  # templated: the configuration task's limits (ChainLimits.as_dict)
        self.aws_conn_id, self.dms_task_id = aws_conn_id, dms_task_id
        self.dry_run, self.report_dir = dry_run, report_dir

    def limits(self) -> ChainLimits:
        t = self.thresholds
        return t if isinstance(t, ChainLimits) else ChainLimits.from_values(t)

    def gate_spec(self) -> GateSpec:
        """The gate's checks for this chain, built from the rendered fields."""
        return GateSpec.for_chain(mode=self.mode, conn_a=self.conn_a, conn_b=self.conn_b, conn_c=self.conn_c,
                                  physical_slot=self.physical_slot, slot=self.slot, subscription=self.subscription,
                                  limits=self.limits(), aws_conn_id=self.aws_conn_id, dms_task_id=self.dms_task_id)

    def protected_roles(self) -> dict[str, str]:
        """Roles the migration itself logs in with: they must never be fenced."""
        out: dict[str, str] = {}
        for conn_id, what in ((self.conn_a, "the role Airflow uses on A"),
                              (self.conn_a_replication, "B's replication role"),
                              (self.conn_b_source, "the role C or DMS reads B with")):
            login = BaseHook.get_connection(conn_id).login
            if login:
                out.setdefault(login, what)
        return out

    def check_fence_roles(self, a: PgShiftHook) -> None:
        if isinstance(self.app_roles, str):
            raise AirflowFailException(f"app_roles must be a list of role names, got {self.app_roles!r}")
        self.app_roles = list(self.app_roles or [])
        problems = fence_problems(a, self.app_roles, self.protected_roles())
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(f"Cutover refused before the fence; A was not touched:\n{listing}")

    def run_dir(self, context: Context) -> Path:
        return report_root(self.report_dir) / "cutover" / safe_name(context["run_id"])


class CutoverGateOperator(_CutoverBase):
    """Refuses the cutover unless every figure is in bounds for ``readings`` consecutive readings.

    A reading out of bounds starts the count again (a passing blip should not cancel a change window);
    if ``readings`` in a row do not come within ``window`` seconds, the cutover is refused with the
    figures of the last reading out of bounds. Read-only. It also checks the roles to fence, so that a
    dry run proves the real cutover may start.
    """

    template_fields: Sequence[str] = (*_CutoverBase.template_fields, "readings", "interval", "window")

    def __init__(self, *, readings: int = 3, interval: float = 1.0, window: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.readings, self.interval, self.window = readings, interval, window

    def execute(self, context: Context) -> dict[str, Any]:
        if self.mode not in ("native", "dms"):
            raise AirflowFailException(f"mode must be native or dms, got {self.mode!r}")
        with PgShiftHook(self.conn_a) as a:
            self.check_fence_roles(a)
        spec, needed = self.gate_spec(), int(self.readings)
        deadline = time.monotonic() + float(self.window)
        figures: list[dict[str, Any]] = []
        in_a_row, taken, last_problems = 0, 0, []
        while True:
            problems, reading = gate_reading(spec)
            taken += 1
            figures = [*figures[-needed:], reading]
            fatal = fatal_problems(reading)
            if fatal:  # waiting cannot fix it: refuse now rather than poll out the window
                listing = "\n".join(f"  - {p}" for p in fatal)
                raise AirflowFailException(
                    f"Cutover refused before the fence: reading {taken} found what waiting cannot fix; "
                    f"A was not touched:\n{listing}")
            for note in warnings(reading):
                self.log.warning("Gate reading %d: %s", taken, note)
            if problems:
                in_a_row, last_problems = 0, problems
                self.log.warning("Gate reading %d out of bounds: %s", taken, "; ".join(problems))
            else:
                in_a_row += 1
                self.log.info("Gate reading %d in bounds (%d/%d in a row): %s", taken, in_a_row, needed,
                              "; ".join(r["message"] for r in reading.values()))
            if in_a_row >= needed:
                return {"readings": figures[-needed:]}
            if time.monotonic() + float(self.interval) > deadline:
                listing = "\n".join(f"  - {p}" for p in last_problems)
                raise AirflowFailException(
                    f"Cutover refused before the fence: not {needed} readings in bounds in a row within "
                    f"{float(self.window):g} s ({taken} taken); A was not touched. Last reading out of bounds:\n"
                    f"{listing}")
            time.sleep(float(self.interval))


class CutoverOperator(_CutoverBase):
    """Fence A, drain, verify, set sequences, finalize; any failure after the fence lifts it.

    ``dry_run`` does everything except the fence and the finalize: it drains to A's current position
    and verifies while A takes writes (see :func:`pgshift.parity.compare_live`).
    Writes ``<report_dir>/cutover/<run_id>/report.json`` and a readable summary in the log.
    """

    template_fields: Sequence[str] = (*_CutoverBase.template_fields, "schemas", "tables", "drain_timeout",
                                      "parallelism")

    def __init__(self, *, schemas: list[str] | None = None, tables: list[str] | None = None,
                 drain_timeout: float = 120, parallelism: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schemas, self.tables = schemas, tables
        self.drain_timeout, self.parallelism = drain_timeout, parallelism
        self._fence: FenceRecord | None = None
        self._fence_path: Path | None = None
        self._methods: dict[tuple[str, str], str] = {}

    # -- entry point
    def execute(self, context: Context) -> dict[str, Any]:
        run_dir = self.run_dir(context)
        self._fence_path = run_dir / "fence.json"
        self._recover_interrupted_attempt(context["run_id"])
        report: dict[str, Any] = {
            "dag_id": context["dag"].dag_id, "run_id": context["run_id"], "action": "cutover",
            "dry_run": bool(self.dry_run), "mode": self.mode, "started_at": _iso(time.time()), "timeline": {},
        }
        timeline = report["timeline"]
        with PgShiftHook(self.conn_a) as a, PgShiftHook(self.conn_b) as b, PgShiftHook(self.conn_c) as c:
            # First thing: the fence watchdog beside this task knows from the lease that a cutover is alive.
            if not take_lease(a):
                holder = lease_holder(a) or {}
                raise AirflowFailException(
                    f"Cutover refused before the fence: another cutover holds the lease on A (backend pid "
                    f"{holder.get('pid')}, since {holder.get('backend_start')}); A was not touched")
            self.check_fence_roles(a)
            for _ in range(5):  # one reading in bounds, allowing a passing blip
                problems, report["gate"] = gate_reading(self.gate_spec())
                if not problems:
                    break
                time.sleep(0.2)
            if problems:
                raise AirflowFailException("Cutover refused before the fence (final reading); A was not touched:\n"
                                           + "\n".join(f"  - {p}" for p in problems))
            scope = Scope.from_params(self.schemas, self.tables)
            tables = [(r["schema"], r["table"]) for r in a.fetch("scope_tables", scope.query_params("public"))]
            self._methods = hash_methods(a, tables)  # from the catalog, before the fence: no downtime spent
            report["hash_methods"] = {f"{s}.{t}": m for (s, t), m in self._methods.items()}
            try:
                if self.dry_run:
                    target = a.scalar("final_wal_lsn")
                    timeline["target_lsn_taken"] = _iso(time.time())
                else:
                    self._fence = plan_fence(a, self.app_roles, context["run_id"])
                    self._fence.save(self._fence_path)  # written first: an interrupted run can be undone
                    apply_fence(a, self._fence, self.app_roles)
                    self._fence.save(self._fence_path)
                    target = self._fence.final_lsn
                    timeline["fenced"] = _iso(self._fence.fenced_at)
                    timeline["sessions_ended"] = _iso(self._fence.terminated_at)
                    timeline["final_lsn_taken"] = _iso(self._fence.final_lsn_at)
                    report["terminated_sessions"] = self._fence.terminated
                    report["unfenced_sessions"] = self._fence.unfenced_sessions
                    for s in self._fence.unfenced_sessions:
                        self.log.warning("Session %s of role %s is still connected to A and is not fenced",
                                         s["pid"], s["usename"])
                report["final_lsn"] = target
                replayed, confirmed = self._drain(a, b, target, c)
                timeline["b_replayed"], timeline["drained"] = _iso(replayed), _iso(confirmed)
                parity = self._verify(a, b, tables)
                report["tables"] = [p.as_dict() for p in parity]
                bad = [p for p in parity if p.status in ("differs", "error")]
                if bad:
                    raise CutoverAbort(f"parity mismatch A vs C in {len(bad)} table(s): "
                                       + "; ".join(p.describe() for p in bad))
                timeline["verified"] = _iso(time.time())
                sequences = read_sequences(a, scope)
                report["sequences"], seq_problems = set_sequences(c, sequences, dry_run=bool(self.dry_run))
                if seq_problems:
                    raise CutoverAbort("; ".join(seq_problems))
                timeline["sequences_set"] = _iso(time.time())
                if not self.dry_run:
                    # The point of no return, and only while this session still holds the lease: from here on
                    # the fence watchdog leaves A fenced even if this task dies.
                    marker = read_marker(a)
                    commit_point(a, self._fence.database, marker)
                    self._fence.state = "committed"
                    timeline["committed"] = _iso(time.time())
                    self._finalize(c)
                    self._fence.state = "finalized"
                    self._fence.save(self._fence_path)
                    timeline["finalized"] = _iso(time.time())
                    write_marker(a, self._fence.database, marker, READY, "cutover")
                ready = time.time()
                timeline["ready"] = _iso(ready)
                if self._fence:
                    report["write_downtime_seconds"] = round(ready - self._fence.fenced_at, 3)
                report["status"] = "dry run passed" if self.dry_run else "ready"
            except BaseException as exc:
                reason = str(exc) if isinstance(exc, CutoverAbort | LeaseLost) else f"{type(exc).__name__}: {exc}"
                report["status"], report["error"] = "rolled back" if self._fence else "failed", reason
                lifted = self._rollback(a)
                if lifted:
                    timeline["unfenced"] = _iso(time.time())
                write_json(run_dir / "report.json", report)
                self.log.error("%s", cutover_summary(report))
                if lifted:
                    raise AirflowFailException(
                        f"Cutover failed after the fence and was rolled back: A is unfenced (roles "
                        f"{', '.join(self._fence.roles) or 'none'} can log in again, default_transaction_read_only "
                        f"restored). Reason: {reason}") from exc
                raise AirflowFailException(f"Cutover {'dry run ' if self.dry_run else ''}failed: {reason}") from exc
        path = write_json(run_dir / "report.json", report)
        self.log.info("%s\nReport: %s", cutover_summary(report), path)
        return {"report": str(path), "status": report["status"],
                "write_downtime_seconds": report.get("write_downtime_seconds"), "final_lsn": report["final_lsn"]}

    def on_kill(self) -> None:
        """Killed after the fence (UI, timeout): lift it before going."""
        if self._fence and self._fence.state in ("fenced", "committed"):
            with PgShiftHook(self.conn_a) as a:
                self._rollback(a)

    # -- steps
    def _recover_interrupted_attempt(self, run_id: str) -> None:
        """A retry never fences A again: it finds what an earlier attempt of this run left and says so.

        A itself is asked first (the fence marker, see :mod:`pgshift.lease`): the watchdog may already have
        lifted the fence, and the record file may be on another worker's disk.
        """
        with PgShiftHook(self.conn_a) as a:
            marker = read_marker(a)
            if marker and marker.run_id == run_id:
                fenced_at = _iso(marker.fenced_at)
                if marker.state == FENCED:
                    if not take_lease(a):
                        holder = lease_holder(a) or {}
                        raise AirflowFailException(
                            f"An earlier attempt of this cutover fenced A at {fenced_at} and still holds the lease "
                            f"(backend pid {holder.get('pid')}): it is alive, so A is left to it")
                    lift_fence(a, FenceRecord.from_marker(a.conn_params()["dbname"], marker), by="retry")
                    raise AirflowFailException(
                        f"An earlier attempt of this cutover died after fencing A at {fenced_at}; this retry "
                        f"unfenced A at {_iso(time.time())} (roles {', '.join(marker.roles) or 'none'} can log in "
                        "again). Trigger a new cutover run.")
                if marker.state == COMMITTED:
                    raise AirflowFailException(
                        f"An earlier attempt of this cutover fenced A at {fenced_at} and passed the point of no "
                        f"return at {_iso(marker.changed_at)} (C verified, sequences set) before it died: A stays "
                        "fenced. Finish it (native: DROP SUBSCRIPTION on C; dms: stop the task) or lift the fence "
                        "by hand; see the README's cutover section.")
                if marker.state == READY:
                    raise AirflowFailException(f"This run already finalized the cutover (C is ready since "
                                               f"{_iso(marker.changed_at)}); A stays fenced.")
        previous = FenceRecord.load(self._fence_path)
        if previous and previous.state in ("planned", "fenced"):
            with PgShiftHook(self.conn_a) as a:
                # The marker is gone (lifted) or was never written: lift what the record says, unless a newer
                # cutover owns A's fence now or a cutover is alive.
                marker, holder = read_marker(a), lease_holder(a)
                if holder or (marker and marker.run_id != run_id):
                    owner = f"run {marker.run_id}" if marker else f"a live cutover (pid {holder['pid']})"
                    raise AirflowFailException(f"An earlier attempt of this cutover was interrupted; A's fence now "
                                               f"belongs to {owner}: this retry leaves A alone. Trigger a new "
                                               "cutover run.")
                lift_fence(a, previous, by="retry")
            previous.save(self._fence_path)
            raise AirflowFailException(
                "An earlier attempt of this cutover was interrupted after it began fencing A; A has been unfenced "
                f"(roles {', '.join(previous.roles) or 'none'} can log in again). Trigger a new cutover run.")
        if previous and previous.state == "finalized":
            raise AirflowFailException("This run already finalized the cutover in an earlier attempt: C is live. "
                                       f"See {self._fence_path.parent / 'report.json'}")

    def _drain(self, a: PgShiftHook, b: PgShiftHook, lsn: str,
               c: PgShiftHook | None = None) -> tuple[float | None, float]:
        try:
            times = wait_confirmed(b, self.slot, lsn, float(self.drain_timeout), nudge=a,
                                   flush=c if self.mode == "native" else None)
        except DrainTimeout as exc:
            raise CutoverAbort(f"drain failed: {exc}") from exc
        self.log.info("Drained: B replayed and slot %r confirmed A's LSN %s", self.slot, lsn)
        return times

    def _verify(self, a: PgShiftHook, b: PgShiftHook, tables: list[tuple[str, str]]) -> list[TableParity]:
        if self.dry_run:
            def wait_confirmed(lsn: str) -> None:
                self._drain(a, b, lsn)

            results = compare_live(self.conn_a, self.conn_c, tables, parallelism=int(self.parallelism),
                                   source_position=lambda: a.scalar("final_wal_lsn"),
                                   wait_target_confirmed=wait_confirmed, methods=self._methods)
        else:
            results = compare_still(self.conn_a, self.conn_c, tables, int(self.parallelism), self._methods)
        for r in results:
            (self.log.info if r.status in ("equal", "moving") else self.log.error)("verify %s", r.describe())
        return results

    def _finalize(self, c: PgShiftHook) -> None:
        if self.mode == "native":
            # One statement, no DISABLE first: if it fails, the subscription is as it was and the rollback
            # leaves a working chain behind.
            c.execute("drop_subscription", subscription=self.subscription)  # also drops its slot on B
            self.log.info("Dropped subscription %r on C (and its slot on B)", self.subscription)
            return
        from airflow.providers.amazon.aws.hooks.dms import DmsHook

        arn = find_task_arn(self.aws_conn_id, self.dms_task_id or "")
        if not arn:
            raise CutoverAbort(f"DMS task {self.dms_task_id!r} is gone: cannot stop it")
        DmsHook(aws_conn_id=self.aws_conn_id or None).stop_replication_task(arn)
        self.log.info("Stopped DMS task %s", self.dms_task_id)

    def _rollback(self, a: PgShiftHook) -> bool:
        """Lift the fence if this attempt set it; True if it did."""
        if not self._fence or self._fence.state not in ("fenced", "committed"):
            return False
        try:
            lift_fence(a, self._fence)
        except Exception:  # noqa: BLE001 - the connection may be the broken thing: try a fresh one
            with PgShiftHook(self.conn_a) as fresh:
                lift_fence(fresh, self._fence)
        self._fence.save(self._fence_path)
        self.log.warning("Fence lifted: roles %s can log in again; database read-only default restored",
                         ", ".join(self._fence.roles) or "none")
        return True
