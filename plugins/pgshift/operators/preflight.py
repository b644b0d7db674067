"""Preflight for the A -> B -> C chain: read-only, and one report listing every problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.preflight_checks import (
    CHAIN_FIELDS,
    check_a,
    check_b,
    check_c,
    check_dms,
    check_not_replicated,
    check_params,
    spec_of,
)


class ChainPreflightOperator(BaseOperator):
    """Check everything the chain needs before anything is changed; fail with the full list.

    Read-only on A, B and C (catalog and settings queries, ``postgres --version`` on host B).
    Returns the facts it read (versions, settings, tables in scope; under ``not_replicated`` what logical
    replication will not carry, such as large objects left behind with ``accept_large_object_loss``; under
    ``warnings`` every warning) for later steps and reports. The checks are :mod:`pgshift.preflight_checks`.
    """

    template_fields: Sequence[str] = CHAIN_FIELDS

    def __init__(self, *, mode: str, conn_a: str, conn_a_replication: str, conn_b: str, conn_b_source: str,
                 conn_c: str, ssh_conn_id: str | None, aws_conn_id: str | None, os_user: str | None,
                 bin_dir: str, data_dir: str, publication: str, physical_slot: str, slot: str, subscription: str,
                 schemas: list[str] | None = None, tables: list[str] | None = None,
                 thresholds: dict[str, Any] | None = None, allow_existing_tables_on_c: bool = False,
                 move_aside_data_dir: bool = False, dms_engine_version: str | None = None,
                 accept_large_object_loss: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode, self.conn_a, self.conn_a_replication, self.conn_b = mode, conn_a, conn_a_replication, conn_b
        self.conn_b_source, self.conn_c = conn_b_source, conn_c
        self.ssh_conn_id, self.aws_conn_id = ssh_conn_id, aws_conn_id
        self.os_user, self.bin_dir, self.data_dir = os_user, bin_dir, data_dir
        self.publication, self.subscription = publication, subscription
        self.physical_slot, self.slot = physical_slot, slot
        self.schemas, self.tables, self.thresholds = schemas, tables, thresholds or {}
        self.allow_existing_tables_on_c, self.move_aside_data_dir = allow_existing_tables_on_c, move_aside_data_dir
        self.dms_engine_version, self.accept_large_object_loss = dms_engine_version, accept_large_object_loss

    def execute(self, context: Context) -> dict[str, Any]:
        spec = spec_of(self)
        problems = check_params(spec)
        facts: dict[str, Any] = {}
        if not problems:  # names are safe to use in queries from here on
            a = check_a(spec)
            b = check_b(spec, a.facts.get("major"))
            c = check_c(spec, a.facts.get("tables", []))
            carried = check_not_replicated(spec)
            findings = [a, b, c, carried]
            if spec.mode == "dms":
                findings.append(check_dms(spec, a.facts.get("major")))
            warnings = [w for finding in findings for w in finding.warnings]
            facts = {"a": a.facts, "b": b.facts, "c": c.facts, "not_replicated": carried.facts,
                     "warnings": warnings}
            for finding in findings:
                problems += finding.problems
            for warning in warnings:
                self.log.warning("%s", warning)
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(
                f"Preflight found {len(problems)} problem(s); nothing was changed:\n{listing}")
        self.log.info("Preflight passed: A %s, B %s, C %s, %d tables in scope",
                      facts["a"].get("version"), facts["b"].get("version"), facts["c"].get("version"),
                      len(facts["a"]["tables"]))
        return facts
