"""Preflight for the A -> B -> C chain: read-only, and one report listing every problem."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.chain import ChainOperator
from pgshift.migration.preflight.checks import (
    check_a,
    check_b,
    check_c,
    check_dms,
    check_not_replicated,
    check_params,
    check_roles,
)


class ChainPreflightOperator(ChainOperator):
    """Check everything the chain needs before anything is changed; fail with the full list.

    Read-only on A, B and C (catalog and settings queries, ``postgres --version`` on host B).
    Returns the facts it read (versions, settings, tables in scope; under ``not_replicated`` what logical
    replication will not carry, such as large objects left behind with ``accept_large_object_loss``; under
    ``warnings`` every warning; under ``c_role`` the rights of pgshift's role on C; under ``fallback`` what the way
    back's checks read) for later steps and reports. The checks are :mod:`pgshift.migration.preflight.checks`,
    :mod:`pgshift.migration.preflight.target_role` (the grants a non-superuser conn_c needs, each refusal naming
    the statement to run) and, with ``fallback`` on, :mod:`pgshift.migration.preflight.fallback`.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.preflight.fallback import check_fallback  # in the task, not at parse
        from pgshift.migration.preflight.target_role import check_target_role

        spec = self.spec()
        problems = check_params(spec)
        facts: dict[str, Any] = {}
        if not problems:  # names are safe to use in queries from here on
            a = check_a(spec)
            b = check_b(spec, a.facts.get("major"))
            c = check_c(spec, a.facts.get("tables", []))
            carried = check_not_replicated(spec)
            roles = check_roles(spec)
            c_role = check_target_role(spec, a.facts.get("tables", []), roles.facts.get("roles", []))
            fallback = check_fallback(spec)
            findings = [a, b, c, c_role, carried, roles, fallback]
            if spec.mode == "dms":
                findings.append(check_dms(spec, a.facts.get("major")))
            warnings = [w for finding in findings for w in finding.warnings]
            facts = {"a": a.facts, "b": b.facts, "c": c.facts, "c_role": c_role.facts, "not_replicated": carried.facts,
                     "roles": roles.facts, "fallback": fallback.facts, "warnings": warnings}
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
