"""Scheduled validation of the chain: read-only (but for ``ddl=apply_additive``, which makes on C the additive
schema changes of A: :mod:`pgshift.migration.schema.heal`); one report, one chart, one failure naming every problem.

Per database for a chain with ``databases``: one report with a section per database, every problem naming its
database (:mod:`pgshift.migration.validation.chain` says what is read once and what per database). Load on A stays
light: catalog and statistics queries only (the preflight's, ``pg_stat_replication``,
``pg_replication_slots``). Parity reads B, never A: B is a physical copy of A, which is what it is there
for. ``parity=sample`` looks up sampled rows by key; ``parity=full`` compares every table, B against C at a
frozen point of B's replay (:mod:`pgshift.migration.verify.frozen`). The report says which configuration it checked
(the DAG's ``configuration`` task: recorded by setup, under the run's conf).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import ChainConfig, Source
from pgshift.migration.configuration import fallback_state
from pgshift.migration.operators.chain import ChainOperator
from pgshift.migration.preflight.checks import check_params
from pgshift.migration.validation.chain import ChainValidation
from pgshift.migration.validation.reverse import ReverseValidation
from pgshift.migration.validation.section import Section


class ValidateChainOperator(ChainValidation, ReverseValidation, ChainOperator):
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
        self._from_b = False  # the record's source is B (action=promote_b): B -> C only


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
        sections: dict[str, Section] = {}
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
        self._from_b = spec.source == Source.B
        report["direction"] = ("C -> A (the way back)" if way_back else
                               "B -> C (B promoted, A lost)" if self._from_b else "A -> B -> C")
        if param_problems:
            problems += param_problems
        elif way_back:
            cut_over = configuration["record"]["cut_over"]
            notes.append(f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']}: the way back "
                         "C -> A is checked")
            sections = self.validate_way_back(Section(None, problems, notes, figures, report))
        else:
            sections = self.validate_chain(spec, context["dag"].dag_id, Section(None, problems, notes, figures, report))
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
        self.log.info("Validation passed: %s", "; ".join(
            [f"{k}={v}" for k, v in figures.items()]
            + [section.named(f"{k}={v}") for section in sections.values() for k, v in section.figures.items()]))
        out = {"report": str(path), "chart": str(chart) if chart else None, "figures": figures}
        if sections:  # a chain with databases: each one's figures too
            out["databases"] = {name: section.figures for name, section in sections.items()}
        return out

    def way_back_armed(self) -> bool:
        """The configuration's record says the chain was cut over with the way back armed."""
        return fallback_state(self.provenance.get("record")) == "armed"

    def on_kill(self) -> None:
        """Killed while B's replay is paused for parity=full: resume it before going."""
        if self._pausing:
            from pgshift.migration.hooks.standby import StandbyHook

            with StandbyHook(self.chain.conn_b) as b:
                b.resume_replay()
