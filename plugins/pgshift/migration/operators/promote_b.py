"""action=promote_b: :class:`PromoteBOperator`. The runbook is :mod:`pgshift.migration.promotion`."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import Context

from pgshift.migration.operators.configured import ConfiguredOperator


class PromoteBOperator(ConfiguredOperator):
    """A lost: promote B, check that B's logical slot(s) survived and that C streams from B again, report the data
    lost with A (the bytes of A's WAL B had not received, when A can still be asked).

    Refuses before anything changes while A answers, unless ``confirm_promote_b``. A retry after B was promoted says
    so and checks again. Writes ``<report_dir>/promote_b/<run_id>.json``; returns the report (no secret in it).
    """

    source_in_a_place: ClassVar[bool] = False  # it asks the real A how much of its WAL B had not received

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.common.report import report_root, safe_name, write_json
        from pgshift.migration.promotion import promote_b

        run_id = context["run_id"]
        report = promote_b(self.chain, run_id, self.log)
        path = write_json(report_root(self.chain.report_dir) / "promote_b" / f"{safe_name(run_id)}.json",
                          report.as_dict())
        self.log.info("B is the chain's source now. %s. Report: %s", report.loss_line(), path)
        return report.as_dict()
