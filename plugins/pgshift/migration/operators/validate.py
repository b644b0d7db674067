"""Scheduled validation of the chain: read-only; one report, one chart, one failure naming every problem.

Load on A stays light: catalog and statistics queries only (the preflight's, ``pg_stat_replication``,
``pg_replication_slots``). Parity reads B, never A: B is a physical copy of A, which is what it is there
for. ``parity=sample`` looks up sampled rows by key; ``parity=full`` compares every table, B against C at a
frozen point of B's replay (:mod:`pgshift.migration.verify.frozen`). The report says which configuration it checked
(the DAG's ``configuration`` task: recorded by setup, under the run's conf).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import ChainConfig
from pgshift.migration.configuration import fallback_state
from pgshift.migration.operators.chain import ChainOperator
from pgshift.migration.preflight.checks import (
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


class ValidateChainOperator(ReverseValidation, ChainOperator):
    """The preflight's A, B and C checks again, A -> B lag, the slot on B, the subscription or DMS task, and parity.

    After a cutover whose record says the way back is armed (``configuration``'s record, see
    :func:`pgshift.migration.configuration.fallback_state`), the reverse direction C -> A instead
    (:mod:`pgshift.migration.validation.reverse`): the chain A -> B -> C no longer exists. The record decides the
    direction;
    a run's conf that overrides recorded keys changes only the names and limits used.
    """

    template_fields: Sequence[str] = (*ChainOperator.template_fields, "configuration")

    def __init__(self, *, configuration: Mapping[str, Any] | str | None = None, **kwargs: Any) -> None:
        """``config``: the chain (:class:`ChainOperator`); ``configuration``: the configuration task's whole XCom (the
        summary, the recorded keys' values and sources, the record), for the report and for the direction. Validation
        runs on a chain that exists: tables on C and a running B are expected (:meth:`ChainConfig.for_validation`).
        ``parity=full`` may hold B's replay up to ``max_replay_pause_seconds``
        (:mod:`pgshift.migration.verify.frozen`)."""
        super().__init__(**kwargs)
        self.configuration = configuration
        self._pausing = False  # B's replay paused by this task right now: on_kill resumes it


    def spec(self) -> ChainConfig:
        return self.chain.for_validation()

    @property
    def provenance(self) -> Mapping[str, Any]:
        """The rendered ``configuration`` (empty when the operator was given none)."""
        if self.configuration is None:
            return {}
        if not isinstance(self.configuration, Mapping):
            raise AirflowFailException(f"configuration must be the configuration task's XCom, got "
                                       f"{str(self.configuration)[:200]!r}")
        return self.configuration

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.common.chart import lag_chart
        from pgshift.common.report import read_reports, report_root, safe_name, write_json

        problems: list[str] = []
        notes: list[str] = []
        figures: dict[str, Any] = {}
        report: dict[str, Any] = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"], "action": "validate",
                                  "mode": self.chain.mode, "parity_mode": self.chain.parity,
                                  "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "figures": figures}
        checked = ""
        configuration = self.provenance
        if configuration:
            report["configuration"] = configuration
            checked = f"\nConfiguration checked: {configuration['summary']}"
            sources = configuration["sources"]
            self.log.info("Checking the configuration %s: %s", configuration["summary"],
                          "; ".join(f"{k}={v!r} ({sources[k]})" for k, v in configuration["values"].items()))
        spec = self.spec()
        param_problems = check_params(spec)
        way_back = self.way_back_armed()
        report["direction"] = "C -> A (the way back)" if way_back else "A -> B -> C"
        if param_problems:
            problems += param_problems
        elif way_back:
            cut_over = configuration["record"]["cut_over"]
            notes.append(f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']}: the way back "
                         "C -> A is checked")
            self.validate_way_back(self.chain.limits().cdc_lag_max_bytes, problems, notes, figures, report)
        else:
            self._preflight(spec, problems, notes, report)
            healthy = self._replication(problems, figures)
            if self.chain.mode == "native":
                self._subscription(problems, notes, figures)
            else:
                self._dms(problems, figures)
            report["parity"] = self._parity(problems, notes, healthy)
            report["access"] = self._access(spec, context["dag"].dag_id, problems, notes)
        report["problems"], report["notes"] = problems, notes
        directory = report_root(self.chain.report_dir) / "validate"
        path = write_json(directory / f"{safe_name(context['run_id'])}.json", report)
        try:
            chart = lag_chart(read_reports(directory, self.chain.chart_runs), directory / "lag.png")
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
        return fallback_state(self.provenance.get("record")) == "armed"

    # -- the parts
    def _access(self, spec: ChainConfig, dag_id: str, problems: list[str], notes: list[str]) -> dict[str, Any]:
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
            with PrimaryHook(self.chain.conn_a) as a, TargetHook(self.chain.conn_c) as c:
                changed = drift(baseline, read_snapshot(a, access), read_snapshot(c, access))
        except Exception as exc:  # noqa: BLE001 - the connection problems are named by the other checks
            notes.append(f"privileges on C not compared: {exc}")
            return {"roles": roles.facts, "drift": None}
        if changed:
            problems.append("C's privileges were changed behind pgshift's back since setup (A did not change "
                            "there); the cutover would refuse them: " + "; ".join(changed))
        return {"roles": roles.facts, "drift": changed}

    def _preflight(self, spec: ChainConfig, problems: list[str], notes: list[str], report: dict[str, Any]) -> None:
        """The preflight's checks of A, B, C and of what logical replication does not carry (its warnings
        are notes)."""
        a = check_a(spec)
        b = check_b(spec, a.facts.get("major"))
        problems += a.problems + b.problems
        if not b.facts.get("running"):  # (a running B that is not a standby is already named by check_b)
            problems.append(f"B ({self.chain.conn_b}) is not running or cannot be reached")
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
        from pgshift.migration.hooks.states import SlotState

        try:
            raw = read_wal_lag(self.chain.conn_a, self.chain.conn_b, self.chain.physical_slot_name)
            limits = self.chain.limits()
            result = evaluate_wal_lag(raw, self.chain.physical_slot_name, limits.wal_lag_max_bytes,
                                      limits.wal_lag_max_seconds)
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
        if sender.get("retained_bytes") and sender["retained_bytes"] > self.chain.max_retained_wal_bytes:
            problems.append(f"physical slot {self.chain.physical_slot_name!r} keeps {sender['retained_bytes']} "
                            "bytes of WAL on A "
                            f"(limit {self.chain.max_retained_wal_bytes}): B is far behind, and A's disk fills")
        reading = CdcLagCheck(conn_b=self.chain.conn_b, slot=self.chain.slot_name,
                              max_bytes=self.chain.cdc_lag_max_bytes).read()
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

        reading = SubscriptionSyncedCheck(conn_c=self.chain.conn_c, subscription=self.chain.subscription_name).read()
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

        reading = DmsTaskCheck(aws_conn_id=self.chain.aws_conn_id, task_id=self.chain.dms_task_id).read()
        figures.update({"dms_status": reading.details.get("status"),
                        "dms_last_failure_message": reading.details.get("last_failure_message")})
        if not reading.done:
            problems.append(reading.message)

    def _parity(self, problems: list[str], notes: list[str], healthy: bool) -> list[dict[str, Any]]:
        if self.chain.parity == "off":
            return []
        if not healthy:
            notes.append("parity not checked: replication is not healthy, so C is expected to differ")
            return []
        from pgshift.migration.hooks.standby import StandbyHook
        from pgshift.migration.scope import Scope
        from pgshift.migration.switchover.drain import wait_confirmed
        from pgshift.migration.validation.sampling import CHAIN, parity_findings, sample_parity

        scope = Scope.from_params(self.chain.schemas, self.chain.tables)
        with StandbyHook(self.chain.conn_b) as b:
            tables = [(t.schema, t.table) for t in b.scope_tables(scope, "public")]
            started = time.monotonic()

            def confirmed(lsn: str) -> None:
                wait_confirmed(b, self.chain.slot_name, lsn, self.chain.drain_timeout_seconds)

            if self.chain.parity == "full":
                results = self._frozen(b, tables, notes)
            else:
                results = sample_parity(b, self.chain.conn_c, tables, self.chain.parity_sample_rows,
                                        wait_target_confirmed=confirmed)
        parity_findings(results, self.chain.parity, len(tables), time.monotonic() - started, problems, notes,
                        counted=CHAIN if self.chain.parity == "full" else None)
        return results

    def _frozen(self, b: StandbyHook, tables: list[tuple[str, str]], notes: list[str]) -> list[dict[str, Any]]:
        """parity=full: every table, B against C at a frozen point of B's replay; no read on A."""
        from pgshift.migration.verify.frozen import FrozenPointError, compare_frozen
        from pgshift.migration.verify.parity import hash_methods

        self._pausing = b.replay_pause_state()[0] == "not paused"  # a DBA's pause is theirs to lift
        try:
            frozen = compare_frozen(b, self.chain.conn_c, self.chain.slot_name, tables,
                                    confirm_timeout=self.chain.drain_timeout_seconds,
                                    max_pause=self.chain.max_replay_pause_seconds, methods=hash_methods(b, tables))
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

            with StandbyHook(self.chain.conn_b) as b:
                b.resume_replay()
