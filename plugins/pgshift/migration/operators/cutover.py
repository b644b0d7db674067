"""The cutover: gate, then (pre-verify ->) fence -> drain -> verify -> sequences -> finalize in one task, rolled back
on failure.

Everything from the fence to "C is ready" runs in a single task because every task hop under a real
scheduler costs seconds of write downtime. The gate runs before, as its own task: it changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import Verify
from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.switchover.state import CUTOVER, FenceState

if TYPE_CHECKING:  # the driver and the runbook's phases are imported where a task runs, not when the DAG is parsed
    from pgshift.migration.access.sync import AccessSpec
    from pgshift.migration.checks.gate import GateSpec
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.switchover.cutover.fallback_phases import FallbackSpec
    from pgshift.migration.switchover.cutover.phases import CutoverRun
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.switchover.results import Plan


class _CutoverBase(ConfiguredOperator):
    """The chain's configuration (``config``) is all the cutover and its gate take, besides their timeouts."""

    def gate_spec(self) -> GateSpec:
        """The gate's checks for this chain."""
        from pgshift.migration.checks.gate import GateSpec

        return GateSpec.of(self.chain)

    def protected_roles(self) -> dict[str, str]:
        """Roles the migration itself logs in with: they must never be fenced."""
        out: dict[str, str] = {}
        chain = self.chain
        for conn_id, what in ((chain.conn_a, "the role Airflow uses on A"),
                              (chain.conn_a_replication, "B's replication role"),
                              (chain.conn_b_subscription, "the role C or DMS reads B with")):
            login = BaseHook.get_connection(conn_id).login
            if login:
                out.setdefault(login, what)
        return out

    def fenced_databases(self) -> list[str] | None:
        """The databases the fence makes read-only: every migrated one (None: the one ``conn_a`` names)."""
        return list(self.chain.databases) if self.chain.several_databases else None

    def check_fence_roles(self, a: PrimaryHook) -> None:
        from pgshift.migration.switchover.fence import fence_problems

        problems = fence_problems(a, list(self.chain.app_roles), self.protected_roles(),
                                  databases=self.fenced_databases())
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(f"Cutover refused before the fence; A was not touched:\n{listing}")

    def check_schema(self) -> None:
        """A's and C's schemas compared for each database's scope (:mod:`pgshift.migration.schema.drift`): any
        difference refuses, naming the statement that makes C match A."""
        from pgshift.migration.schema.drift import REFUSAL, chain_drift, drift_problems

        problems = drift_problems(chain_drift(self.chain))
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(f"Cutover refused before the fence; A was not touched: {REFUSAL}:\n{listing}")

    def run_dir(self, context: Context) -> Path:
        from pgshift.common.report import report_root, safe_name

        return report_root(self.chain.report_dir) / "cutover" / safe_name(context["run_id"])


class CutoverGateOperator(_CutoverBase):
    """Refuses the cutover unless every figure is in bounds for ``gate_readings`` consecutive readings.

    A reading out of bounds starts the count again (a passing blip should not cancel a change window);
    if ``gate_readings`` in a row do not come within ``gate_window_seconds``, the cutover is refused with the
    figures of the last reading out of bounds. Read-only. It also checks the roles to fence, so that a
    dry run proves the real cutover may start, and, once the readings are in bounds, that A's and C's schemas
    match (:meth:`check_schema`; the cutover compares them again right before the fence).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.checks.gate import fatal_problems, gate_reading, warnings
        from pgshift.migration.checks.in_a_row import Refusal, readings_in_a_row
        from pgshift.migration.hooks.primary import PrimaryHook

        chain = self.chain
        with PrimaryHook(chain.conn_a) as a:
            self.check_fence_roles(a)
        spec = self.gate_spec()

        def read(taken: int) -> tuple[list[str], dict[str, Any]]:
            problems, reading = gate_reading(spec)
            fatal = fatal_problems(reading)
            if fatal:  # waiting cannot fix it: refuse now rather than poll out the window
                listing = "\n".join(f"  - {p}" for p in fatal)
                raise AirflowFailException(
                    f"Cutover refused before the fence: reading {taken} found what waiting cannot fix; "
                    f"A was not touched:\n{listing}")
            for note in warnings(reading):
                self.log.warning("Gate reading %d: %s", taken, note)
            return problems, reading

        readings = readings_in_a_row(
            read, count=chain.gate_readings, window=chain.gate_window_seconds, interval=chain.gate_interval_seconds,
            refusal=Refusal("Cutover refused before the fence", "A was not touched", "Last reading out of bounds"),
            log=self.log, name="Gate", said=lambda reading: "; ".join(r["message"] for r in reading.values()))
        self.check_schema()  # once the readings are in bounds (a database missing on A was refused by them)
        return {"readings": readings}


class CutoverOperator(_CutoverBase):
    """Fence A, drain, verify, set sequences, finalize; any failure after the fence lifts it.

    ``dry_run`` does everything except the fence and the finalize: it drains to A's current position
    and verifies while A takes writes (see :func:`pgshift.migration.verify.parity.compare_live`).
    Writes ``<report_dir>/cutover/<run_id>/report.json`` and a readable summary in the log.
    The phases are in :mod:`pgshift.migration.switchover.cutover.phases`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.active_run: CutoverRun | None = None
        self.active_parts: list[CutoverRun] = []  # a chain of several databases: each database's run (its own sessions)

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.switchover.cutover.phases import CutoverRun, new_report
        from pgshift.migration.switchover.recovery import recover_interrupted_attempt

        settings = self.cutover_settings(context)
        if self.chain.several_databases:
            from pgshift.migration.operators.cutover_set import cut_over_set, finish_set

            finished = recover_interrupted_attempt(CUTOVER, settings.conn_a, settings.run_id, settings.fence_path,
                                                   finish=finish_set(self, context, settings))
            return cut_over_set(self, context, settings, finished)
        recover_interrupted_attempt(CUTOVER, settings.conn_a, settings.run_id, settings.fence_path)
        dry_run = self.chain.dry_run
        report = new_report(context["dag"].dag_id, settings, dry_run=dry_run)
        with CutoverRun.connect(settings, report, self.log) as run:
            self.active_run = run
            run.take_lease()
            self.check_fence_roles(run.a)
            plan = run.plan(list(self.chain.schemas), list(self.chain.tables))
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
        Before the fence: the schemas compared, the pre-verification, the way back's slot on C (native mode: undone
        by any failure), the gate's last reading, the forecast."""
        from pgshift.migration.switchover.cutover.phases import refuse_drift

        try:
            refuse_drift({None: run.check_schema(plan)})
            run.pre_verify(plan)  # first: a table locked on C refuses here, within max_replay_pause_seconds
            run.prepare_fallback(self.fallback_spec(), plan)
            run.load_baseline()
            run.gate(self.gate_spec())
            run.forecast()
            fenced = run.fence(list(self.chain.app_roles))
            run.prefetch(fenced.final_lsn)
            run.drain(fenced.final_lsn)
            run.sync_access()
            run.verify(plan)
            run.refresh_materialized_views(plan)
            run.set_sequences(plan)
            run.verify_access()
            run.prove_login()
            run.arm_fallback(self.fallback_spec(), plan)
            committed = run.commit()
            run.finalize(committed)
            run.open_login()
            run.ready()
        except BaseException as exc:
            record = run.fence_record
            if record is None or record.state in (FenceState.FENCED, FenceState.COMMITTED):  # rolled back
                run.disarm_fallback(self.fallback_spec())  # also what was prepared before the fence
            raise run.abort(exc) from exc

    def _rehearse(self, run: CutoverRun, plan: Plan) -> None:
        """The dry run: no fence, no finalize; drains to A's current position and verifies while A takes writes
        (verify=delta: at B's frozen points, with the forecast the real cutover would make)."""
        from pgshift.migration.switchover.cutover.phases import refuse_drift

        try:
            refuse_drift({None: run.check_schema(plan)})
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
            run.preview_fallback(self.fallback_spec())
            run.passed()
        except BaseException as exc:
            raise run.abort(exc) from exc

    def on_kill(self) -> None:
        """Killed (UI, timeout): lift the fence if set and resume B's replay if a frozen point holds it, before
        going, in sessions of their own (every database's, for a chain of several)."""
        if self.active_run:
            try:
                for part in self.active_parts:
                    try:
                        part.end_verify_in_new_session()
                    except Exception:
                        self.log.exception("Could not end the verification of database %s", part.settings.database)
                self.active_run.end_verify_in_new_session()
            finally:
                self.active_run.rollback_in_new_session()

    def fallback_spec(self, chain: ChainConfig | None = None) -> FallbackSpec:
        """The way back of ``chain`` (default the task's; a database's part of it: that database's names)."""
        from pgshift.migration.switchover.cutover.fallback_phases import FallbackSpec

        chain = chain or self.chain
        return FallbackSpec(chain.fallback, chain.fallback_publication_name, chain.fallback_subscription_name,
                            chain.conn_c_subscription)

    def _access(self) -> AccessSpec:
        """The roles C needs, from the chain's params; bad ones refuse the cutover before the fence."""
        from pgshift.migration.access.sync import AccessSpec

        chain = self.chain
        spec = AccessSpec.from_params(schemas=chain.schemas, tables=chain.tables, app_roles=chain.app_roles,
                                      extra_roles=chain.extra_roles, exclude_roles=chain.exclude_roles,
                                      memberships_on_c=chain.memberships_on_c,
                                      c_login=BaseHook.get_connection(chain.conn_c).login,
                                      no_login=list(self.protected_roles()))
        problems = spec.problems()
        for role, conn_id in chain.app_role_connections.items():
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

    def cutover_settings(self, context: Context, chain: ChainConfig | None = None,
                  access: AccessSpec | None = None) -> CutoverSettings:
        """The cutover's settings for ``chain`` (default the task's; a database's part: its connections, names and
        run directory ``<run_dir>/<database>``, and the app roles' connections in that database)."""
        from pgshift.common.connections import in_database
        from pgshift.migration.switchover.cutover.settings import CutoverSettings

        part = chain is not None
        chain = chain or self.chain
        run_dir = self.run_dir(context)
        logins = dict(chain.app_role_connections)
        if part and chain.database:
            run_dir = run_dir / chain.database
            logins = {role: in_database(conn_id, chain.database) for role, conn_id in logins.items()}
        return CutoverSettings(
            run_id=context["run_id"], mode=chain.mode, conn_a=chain.conn_a, conn_b=chain.conn_b, conn_c=chain.conn_c,
            slot=chain.slot_name, subscription=chain.subscription_name, drain_timeout=chain.drain_timeout_seconds,
            parallelism=chain.verify_parallelism, aws_conn_id=chain.aws_conn_id, dms_task_id=chain.dms_task_id,
            run_dir=run_dir, access=access or self._access(),
            app_role_connections=logins, publication=chain.publication_name,
            verify=chain.verify, max_replay_pause=chain.max_replay_pause_seconds,
            max_write_downtime=chain.max_write_downtime_seconds, database=chain.database if part else None)
