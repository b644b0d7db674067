"""The cutover: gate, then (pre-verify ->) fence -> drain -> verify -> sequences -> finalize in one task, rolled back
on failure.

Everything from the fence to "C is ready" runs in a single task because every task hop under a real
scheduler costs seconds of write downtime. The gate runs before, as its own task: it changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.state import CUTOVER, FenceState, Verify

if TYPE_CHECKING:  # the driver and the runbook's phases are imported where a task runs, not when the DAG is parsed
    from pgshift.migration.access.sync import AccessSpec
    from pgshift.migration.checks.gate import GateSpec
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.limits import ChainLimits
    from pgshift.migration.switchover.cutover.fallback_phases import FallbackSpec
    from pgshift.migration.switchover.cutover.phases import CutoverRun
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.switchover.results import Plan


class _CutoverBase(BaseOperator):
    template_fields: Sequence[str] = (
        "mode", "conn_a", "conn_a_replication", "conn_b", "conn_b_source", "conn_c", "physical_slot", "slot",
        "subscription", "app_roles", "thresholds", "aws_conn_id", "dms_task_id", "is_dry_run", "report_dir",
    )

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
        # Not ``self.dry_run``: that would hide BaseOperator.dry_run(), the method that renders the templates.
        self.is_dry_run, self.report_dir = dry_run, report_dir

    def limits(self) -> ChainLimits:
        from pgshift.migration.limits import ChainLimits

        return ChainLimits.from_values(self.thresholds)

    def gate_spec(self) -> GateSpec:
        """The gate's checks for this chain, built from the rendered fields."""
        from pgshift.migration.checks.gate import GateSpec

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

    def check_fence_roles(self, a: PrimaryHook) -> None:
        from pgshift.migration.switchover.fence import fence_problems

        if isinstance(self.app_roles, str):
            raise AirflowFailException(f"app_roles must be a list of role names, got {self.app_roles!r}")
        self.app_roles = list(self.app_roles or [])
        problems = fence_problems(a, self.app_roles, self.protected_roles())
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(f"Cutover refused before the fence; A was not touched:\n{listing}")

    def run_dir(self, context: Context) -> Path:
        from pgshift.common.report import report_root, safe_name

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
        from pgshift.migration.checks.gate import fatal_problems, gate_reading, warnings
        from pgshift.migration.hooks.primary import PrimaryHook

        with PrimaryHook(self.conn_a) as a:
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
    and verifies while A takes writes (see :func:`pgshift.migration.verify.parity.compare_live`).
    Writes ``<report_dir>/cutover/<run_id>/report.json`` and a readable summary in the log.
    The phases are in :mod:`pgshift.migration.switchover.cutover.phases`.
    """

    template_fields: Sequence[str] = (*_CutoverBase.template_fields, "schemas", "tables", "drain_timeout",
                                      "parallelism", "extra_roles", "exclude_roles", "memberships_on_c",
                                      "app_role_connections", "publication", "verify", "max_replay_pause",
                                      "max_write_downtime", "fallback", "fallback_publication",
                                      "fallback_subscription", "conn_c_subscription")

    def __init__(self, *, schemas: list[str] | None = None, tables: list[str] | None = None,
                 drain_timeout: float = 120, parallelism: int = 4, extra_roles: list[str] | None = None,
                 exclude_roles: list[str] | None = None, memberships_on_c: Mapping[str, list[str]] | None = None,
                 app_role_connections: Mapping[str, str] | None = None, publication: str = "pgshift_pub",
                 verify: str = "delta", max_replay_pause: float = 300, max_write_downtime: float = 60,
                 fallback: bool = False, fallback_publication: str = "pgshift_fallback_pub",
                 fallback_subscription: str = "pgshift_fallback", conn_c_subscription: str = "pgshift_c_replication",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.publication, self.verify = publication, verify
        self.max_replay_pause, self.max_write_downtime = max_replay_pause, max_write_downtime
        self.schemas, self.tables = schemas, tables
        self.drain_timeout, self.parallelism = drain_timeout, parallelism
        self.extra_roles, self.exclude_roles, self.memberships_on_c = extra_roles, exclude_roles, memberships_on_c
        self.app_role_connections = app_role_connections
        self.fallback, self.fallback_publication = fallback, fallback_publication  # the way back (C -> A)
        self.fallback_subscription, self.conn_c_subscription = fallback_subscription, conn_c_subscription
        self._run: CutoverRun | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.switchover.cutover.phases import CutoverRun, new_report
        from pgshift.migration.switchover.recovery import recover_interrupted_attempt

        settings = self._settings(context)
        recover_interrupted_attempt(CUTOVER, self.conn_a, settings.run_id, settings.fence_path)
        dry_run = bool(self.is_dry_run)
        report = new_report(context["dag"].dag_id, settings, dry_run=dry_run)
        with CutoverRun.connect(settings, report, self.log) as run:
            self._run = run
            run.take_lease()
            self.check_fence_roles(run.a)
            plan = run.plan(self.schemas, self.tables)
            try:
                if dry_run:
                    self._rehearse(run, plan)
                else:
                    self._cut_over(run, plan)
            finally:
                run.end_verify()
        return run.finish()

    def _cut_over(self, run: CutoverRun, plan: Plan) -> None:
        """The runbook, from the fence to "C is ready"; any failure before the finalize lifts the fence again.
        Before the fence (nothing to undo): the pre-verification, the gate's last reading, the forecast."""
        try:
            run.pre_verify(plan)
            run.gate(self.gate_spec())
            run.forecast()
            fenced = run.fence(self.app_roles)
            run.prefetch(fenced.final_lsn)
            run.drain(fenced.final_lsn)
            run.sync_access()
            run.verify(plan)
            run.refresh_materialized_views(plan)
            run.set_sequences(plan)
            run.verify_access()
            run.prove_login()
            run.arm_fallback(self._fallback(), plan)
            committed = run.commit()
            run.finalize(committed)
            run.open_login()
            run.ready()
        except BaseException as exc:
            if run.fence_record and run.fence_record.state in (FenceState.FENCED, FenceState.COMMITTED):  # rolled back
                run.disarm_fallback(self._fallback())
            raise run.abort(exc) from exc

    def _rehearse(self, run: CutoverRun, plan: Plan) -> None:
        """The dry run: no fence, no finalize; drains to A's current position and verifies while A takes writes
        (verify=delta: at B's frozen points, with the forecast the real cutover would make)."""
        try:
            run.pre_verify(plan)
            run.gate(self.gate_spec())
            run.forecast()
            target = run.target()
            run.drain(target.lsn)
            run.preview_access()
            if run.settings.verify == Verify.FULL:
                run.verify_live(plan)
            run.preview_sequences(plan)
            run.prove_login(preview=True)
            run.preview_fallback(self._fallback())
            run.passed()
        except BaseException as exc:
            raise run.abort(exc) from exc

    def on_kill(self) -> None:
        """Killed (UI, timeout): lift the fence if set and resume B's replay if a frozen point holds it, before
        going, in sessions of their own."""
        if self._run:
            try:
                self._run.end_verify_in_new_session()
            finally:
                self._run.rollback_in_new_session()

    def _fallback(self) -> FallbackSpec:
        from pgshift.migration.switchover.cutover.fallback_phases import FallbackSpec

        return FallbackSpec(bool(self.fallback), str(self.fallback_publication), str(self.fallback_subscription),
                            str(self.conn_c_subscription))

    def _access(self) -> AccessSpec:
        """The roles C needs, from the rendered params; bad ones refuse the cutover before the fence."""
        from pgshift.migration.access.sync import AccessSpec

        if isinstance(self.app_roles, str):
            raise AirflowFailException(f"app_roles must be a list of role names, got {self.app_roles!r}")
        spec = AccessSpec.from_params(schemas=self.schemas, tables=self.tables, app_roles=self.app_roles,
                                      extra_roles=self.extra_roles, exclude_roles=self.exclude_roles,
                                      memberships_on_c=self.memberships_on_c,
                                      c_login=BaseHook.get_connection(self.conn_c).login,
                                      no_login=list(self.protected_roles()))
        problems = spec.problems()
        connections = dict(self.app_role_connections or {})
        for role, conn_id in connections.items():
            if role not in spec.app_roles:
                problems.append(f"app_role_connections: {role!r} is not in app_roles")
                continue
            try:
                login = BaseHook.get_connection(conn_id).login
            except Exception as exc:  # noqa: BLE001 - an unknown connection id is a bad param
                problems.append(f"app_role_connections: {role!r} -> connection {conn_id!r}: {exc}")
                continue
            if login != role:
                problems.append(f"app_role_connections: connection {conn_id!r} logs in as {login!r}, not {role!r}")
        if problems:
            raise AirflowFailException("Cutover refused before the fence; A was not touched:\n"
                                       + "\n".join(f"  - {p}" for p in problems))
        return spec

    def _settings(self, context: Context) -> CutoverSettings:
        from pgshift.migration.switchover.cutover.settings import CutoverSettings

        return CutoverSettings(
            run_id=context["run_id"], mode=self.mode, conn_a=self.conn_a, conn_b=self.conn_b, conn_c=self.conn_c,
            slot=self.slot, subscription=self.subscription, drain_timeout=float(self.drain_timeout),
            parallelism=int(self.parallelism), aws_conn_id=self.aws_conn_id, dms_task_id=self.dms_task_id,
            run_dir=self.run_dir(context), access=self._access(),
            app_role_connections=dict(self.app_role_connections or {}), publication=self.publication,
            verify=self._verify_method(), max_replay_pause=float(self.max_replay_pause),
            max_write_downtime=float(self.max_write_downtime))

    def _verify_method(self) -> Verify:
        if self.verify not in tuple(Verify):
            raise AirflowFailException(f"Cutover refused before the fence; A was not touched: verify must be one of "
                                       f"{', '.join(Verify)}, got {self.verify!r}")
        return Verify(self.verify)
