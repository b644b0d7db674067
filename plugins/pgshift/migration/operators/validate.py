"""Scheduled validation of the chain: read-only; one report, one chart, one failure naming every problem.

Load on A stays light: catalog and statistics queries only (the preflight's, ``pg_stat_replication``,
``pg_replication_slots``). Parity reads B, never A: B is a physical copy of A, which is what it is there
for. ``parity=sample`` looks up sampled rows by key; ``parity=full`` compares every table, B against C at a
frozen point of B's replay (:mod:`pgshift.migration.verify.frozen`). The report says which configuration it checked
(the DAG's ``configuration`` task: recorded by setup, under the run's conf).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.configuration import fallback_state
from pgshift.migration.hooks.states import SlotState
from pgshift.migration.limits import ChainLimits
from pgshift.migration.operators.chain import ChainOperator
from pgshift.migration.preflight.checks import (
    ChainSpec,
    check_a,
    check_b,
    check_c,
    check_not_replicated,
    check_params,
    check_roles,
)
from pgshift.migration.validation.reverse import ReverseValidation

if TYPE_CHECKING:  # the checks, the chart and the driver are imported where a task runs, not when a DAG is parsed
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.limits import ChainLimits


class ValidateChainOperator(ReverseValidation, ChainOperator):
    """The preflight's A, B and C checks again, A -> B lag, the slot on B, the subscription or DMS task, and parity.

    After a cutover whose record says the way back is armed (``configuration``'s record, see
    :func:`pgshift.migration.configuration.fallback_state`), the reverse direction C -> A instead
    (:mod:`pgshift.migration.validation.reverse`): the chain A -> B -> C no longer exists. The record decides the
    direction;
    a run's conf that overrides recorded keys changes only the names and limits used.
    """

    template_fields: Sequence[str] = (
        *ChainOperator.template_fields, "dms_task_id", "parity", "sample_rows", "max_retained_wal_bytes",
        "min_safe_wal_bytes", "chart_runs", "report_dir", "confirm_timeout", "configuration",
        "max_replay_pause",
    )

    def __init__(self, *, allow_existing_tables_on_c: bool = True,
                 dms_task_id: str = "", parity: str = "sample", sample_rows: int = 200,
                 max_retained_wal_bytes: int = 8 * 2**30, min_safe_wal_bytes: int = 2**30, chart_runs: int = 48,
                 report_dir: str | None = None, confirm_timeout: float = 120,
                 configuration: dict[str, Any] | None = None, max_replay_pause: float = 300,
                 **kwargs: Any) -> None:
        """The chain's parameters are :class:`ChainOperator`'s (``thresholds``: the configuration task's limits,
        read with :meth:`limits`); ``configuration``: the configuration task's XCom (values, their sources, the
        record), for the report. Validation runs on a chain that exists: tables on C and a running B are
        expected, so ``allow_existing_tables_on_c`` defaults to true here. ``max_replay_pause``: how long
        ``parity=full`` may hold B's replay (:mod:`pgshift.migration.verify.frozen`)."""
        super().__init__(allow_existing_tables_on_c=allow_existing_tables_on_c, **kwargs)
        self.dms_task_id, self.parity, self.sample_rows = dms_task_id, parity, sample_rows
        self.max_retained_wal_bytes, self.min_safe_wal_bytes = max_retained_wal_bytes, min_safe_wal_bytes
        self.chart_runs, self.report_dir, self.confirm_timeout = chart_runs, report_dir, confirm_timeout
        self.configuration = configuration
        self.max_replay_pause = max_replay_pause
        self._pausing = False  # B's replay paused by this task right now: on_kill resumes it

    def limits(self) -> ChainLimits:
        from pgshift.migration.limits import ChainLimits

        return ChainLimits.from_values(self.thresholds)

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.common.chart import lag_chart
        from pgshift.common.report import read_reports, report_root, safe_name, write_json

        problems: list[str] = []
        notes: list[str] = []
        figures: dict[str, Any] = {}
        report: dict[str, Any] = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"], "action": "validate",
                                  "mode": self.mode, "parity_mode": self.parity,
                                  "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "figures": figures}
        checked = ""
        if self.configuration:
            report["configuration"] = self.configuration
            checked = f"\nConfiguration checked: {self.configuration['summary']}"
            sources = self.configuration["sources"]
            self.log.info("Checking the configuration %s: %s", self.configuration["summary"],
                          "; ".join(f"{k}={v!r} ({sources[k]})" for k, v in self.configuration["values"].items()))
        spec = self.spec()
        param_problems = check_params(spec)
        if self.parity not in ("sample", "full", "off"):
            param_problems.append(f"parity must be sample, full or off, got {self.parity!r}")
        way_back = self.way_back_armed()
        report["direction"] = "C -> A (the way back)" if way_back else "A -> B -> C"
        if param_problems:
            problems += param_problems
        elif way_back:
            cut_over = (self.configuration or {})["record"]["cut_over"]
            notes.append(f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']}: the way back "
                         "C -> A is checked")
            self.validate_way_back(self.limits().cdc_lag_max_bytes, problems, notes, figures, report)
        else:
            self._preflight(spec, problems, notes, report)
            healthy = self._replication(problems, figures)
            if self.mode == "native":
                self._subscription(problems, notes, figures)
            else:
                self._dms(problems, figures)
            report["parity"] = self._parity(problems, notes, healthy)
            report["access"] = self._access(spec, context["dag"].dag_id, problems, notes)
        report["problems"], report["notes"] = problems, notes
        directory = report_root(self.report_dir) / "validate"
        path = write_json(directory / f"{safe_name(context['run_id'])}.json", report)
        try:
            chart = lag_chart(read_reports(directory, int(self.chart_runs)), directory / "lag.png")
        except Exception as exc:  # noqa: BLE001 - a chart is not worth failing a validation for
            chart = None
            self.log.warning("Could not draw the lag chart: %s", exc)
        self.log.info("Validation report: %s; chart: %s", path, chart)
        for note in notes:
            self.log.info("note: %s", note)
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(f"Validation found {len(problems)} problem(s):\n{listing}\nReport: {path}"
                                       + checked)
        self.log.info("Validation passed: %s", "; ".join(f"{k}={v}" for k, v in figures.items()))
        return {"report": str(path), "chart": str(chart) if chart else None, "figures": figures}

    def way_back_armed(self) -> bool:
        """The configuration's record says the chain was cut over with the way back armed."""
        return fallback_state((self.configuration or {}).get("record")) == "armed"

    # -- the parts
    def _access(self, spec: ChainSpec, dag_id: str, problems: list[str], notes: list[str]) -> dict[str, Any]:
        """The roles in scope (preflight's findings are notes), and whether C's owners and privileges were changed
        behind pgshift's back since setup: the cutover would refuse that, so it is a problem now."""
        from pgshift.migration.access.sync import AccessSpec, drift, load_baseline, read_snapshot
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.target import TargetHook

        roles = check_roles(spec)
        problems += roles.problems
        notes += roles.warnings
        baseline = load_baseline(dag_id)
        if baseline is None:
            notes.append("no baseline of C's privileges from setup (set up by an older pgshift): the cutover will "
                         "bring C to A's privileges wherever they differ")
            return {"roles": roles.facts, "drift": None}
        access = AccessSpec.from_params(schemas=spec.schemas, tables=spec.tables)
        try:
            with PrimaryHook(self.conn_a) as a, TargetHook(self.conn_c) as c:
                changed = drift(baseline, read_snapshot(a, access), read_snapshot(c, access))
        except Exception as exc:  # noqa: BLE001 - the connection problems are named by the other checks
            notes.append(f"privileges on C not compared: {exc}")
            return {"roles": roles.facts, "drift": None}
        if changed:
            problems.append("C's privileges were changed behind pgshift's back since setup (A did not change "
                            "there); the cutover would refuse them: " + "; ".join(changed))
        return {"roles": roles.facts, "drift": changed}

    def _preflight(self, spec: ChainSpec, problems: list[str], notes: list[str], report: dict[str, Any]) -> None:
        """The preflight's checks of A, B, C and of what logical replication does not carry (its warnings
        are notes)."""
        a = check_a(spec)
        b = check_b(spec, a.facts.get("major"))
        problems += a.problems + b.problems
        if not b.facts.get("running"):  # (a running B that is not a standby is already named by check_b)
            problems.append(f"B ({self.conn_b}) is not running or cannot be reached")
        problems += check_c(spec, a.facts.get("tables", [])).problems
        carried = check_not_replicated(spec)
        problems += carried.problems
        for warning in carried.warnings:
            notes.append(warning)
            self.log.warning("%s", warning)
        report["preflight"] = {"a_version": a.facts.get("version"), "b_version": b.facts.get("version"),
                               "tables_in_scope": len(a.facts.get("tables", [])),
                               "not_replicated": carried.facts}

    def _replication(self, problems: list[str], figures: dict[str, Any]) -> bool:
        """A -> B lag and the slots on both ends. True if C can be expected to keep up."""
        from pgshift.migration.checks.cdc_lag import B_SLOT, CdcLagCheck
        from pgshift.migration.checks.slot import slot_wal_problems, wal_unreserved
        from pgshift.migration.checks.wal_lag import evaluate_wal_lag, read_wal_lag

        try:
            raw = read_wal_lag(self.conn_a, self.conn_b, self.physical_slot)
            limits = self.limits()
            result = evaluate_wal_lag(raw, self.physical_slot, limits.wal_lag_max_bytes, limits.wal_lag_max_seconds)
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            problems.append(f"A -> B: cannot read the figures: {exc}")
            return False
        figures["a_to_b_lag_bytes"] = result.details.get("lag_bytes")
        figures["a_to_b_lag_seconds"] = result.details.get("lag_seconds")
        figures["b_receiver_status"] = result.details.get("b_receiver_status")
        if not result.done:
            problems.append(f"A -> B: {result.message}")
        sender = raw["a"] or {}
        figures["a_physical_slot_retained_bytes"] = sender.get("retained_bytes")
        if sender.get("retained_bytes") and sender["retained_bytes"] > int(self.max_retained_wal_bytes):
            problems.append(f"physical slot {self.physical_slot!r} keeps {sender['retained_bytes']} bytes of WAL on A "
                            f"(limit {self.max_retained_wal_bytes}): B is far behind, and A's disk fills")
        reading = CdcLagCheck(conn_b=self.conn_b, slot=self.slot, max_bytes=self.limits().cdc_lag_max_bytes).read()
        if not reading.done:
            problems.append(reading.message)
        if not reading.details:  # no slot, or B could not be read
            return False
        slot = SlotState(**reading.details)
        figures.update({"slot_wal_status": slot.wal_status, "slot_safe_wal_size": slot.safe_wal_size,
                        "slot_conflicting": slot.conflicting, "slot_invalidation_reason": slot.invalidation_reason,
                        "slot_retained_bytes": slot.retained_bytes, "b_to_c_lag_bytes": slot.lag_bytes,
                        "slot_active": slot.active})
        if reading.fatal:  # invalidated: nothing more to say about its WAL
            return False
        problems += slot_wal_problems(slot, B_SLOT, self.wal_limits())
        return not wal_unreserved(slot) and slot.active and result.done

    def _subscription(self, problems: list[str], notes: list[str], figures: dict[str, Any]) -> None:
        """The subscription check's verdict: an apply/sync error counted in the past that the apply worker
        recovered from is a note (and a warning in the log), a current one a problem."""
        from pgshift.migration.checks.subscription import SubscriptionSyncedCheck

        reading = SubscriptionSyncedCheck(conn_c=self.conn_c, subscription=self.subscription).read()
        if not reading.done:
            problems.append(reading.message)
        elif reading.warning:
            notes.append(reading.message)
            self.log.warning("%s", reading.message)
        st = reading.details
        if st:
            figures.update({"apply_error_count": st["apply_error_count"], "sync_error_count": st["sync_error_count"],
                            "subscription_errors": st.get("errors"), "tables_ready": f"{st['ready']}/{st['tables']}"})

    def _dms(self, problems: list[str], figures: dict[str, Any]) -> None:
        from pgshift.migration.checks.dms_task import DmsTaskCheck

        reading = DmsTaskCheck(aws_conn_id=self.aws_conn_id, task_id=self.dms_task_id).read()
        figures.update({"dms_status": reading.details.get("status"),
                        "dms_last_failure_message": reading.details.get("last_failure_message")})
        if not reading.done:
            problems.append(reading.message)

    def _parity(self, problems: list[str], notes: list[str], healthy: bool) -> list[dict[str, Any]]:
        if self.parity == "off":
            return []
        if not healthy:
            notes.append("parity not checked: replication is not healthy, so C is expected to differ")
            return []
        from pgshift.migration.hooks.standby import StandbyHook
        from pgshift.migration.scope import Scope
        from pgshift.migration.switchover.drain import wait_confirmed
        from pgshift.migration.validation.sampling import CHAIN, parity_findings, sample_parity

        scope = Scope.from_params(self.schemas, self.tables)
        with StandbyHook(self.conn_b) as b:
            tables = [(t.schema, t.table) for t in b.scope_tables(scope, "public")]
            started = time.monotonic()

            def confirmed(lsn: str) -> None:
                wait_confirmed(b, self.slot, lsn, float(self.confirm_timeout))

            if self.parity == "full":
                results = self._frozen(b, tables, notes)
            else:
                results = sample_parity(b, self.conn_c, tables, int(self.sample_rows),
                                        wait_target_confirmed=confirmed)
        parity_findings(results, self.parity, len(tables), time.monotonic() - started, problems, notes,
                        counted=CHAIN if self.parity == "full" else None)
        return results

    def _frozen(self, b: StandbyHook, tables: list[tuple[str, str]], notes: list[str]) -> list[dict[str, Any]]:
        """parity=full: every table, B against C at a frozen point of B's replay; no read on A."""
        from pgshift.migration.verify.frozen import FrozenPointError, compare_frozen
        from pgshift.migration.verify.parity import hash_methods

        self._pausing = b.replay_pause_state()[0] == "not paused"  # a DBA's pause is theirs to lift
        try:
            frozen = compare_frozen(b, self.conn_c, self.slot, tables, confirm_timeout=float(self.confirm_timeout),
                                    max_pause=float(self.max_replay_pause), methods=hash_methods(b, tables))
        except FrozenPointError as exc:
            return [{"table": "(all)", "status": "error", "note": str(exc), "source_rows": None,
                     "target_rows": None}]
        finally:
            self._pausing = False
        state = "resumed" if frozen.resumed else "left paused, as it was before"
        notes.append(f"parity (full): B and C compared at B's frozen position {frozen.lsn}; B -> C held back "
                     f"{frozen.paused_seconds:.2f} s, B's replay {state}; A not read")
        return [r.as_dict() for r in frozen.tables]

    def on_kill(self) -> None:
        """Killed while B's replay is paused for parity=full: resume it before going."""
        if self._pausing:
            from pgshift.migration.hooks.standby import StandbyHook

            with StandbyHook(self.conn_b) as b:
                b.resume_replay()
