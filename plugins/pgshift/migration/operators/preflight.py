"""Preflight for the A -> B -> C chain: read-only, and one report listing every problem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.operators.chain import ChainOperator
from pgshift.migration.preflight.checks import (
    Finding,
    check_a,
    check_b,
    check_c,
    check_dms,
    check_not_replicated,
    check_params,
    check_roles,
)

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig

# What is read per database (each of a chain's named databases), by the key of its facts.
PER_DATABASE = ("a", "c", "c_role", "not_replicated", "fallback")


class ChainPreflightOperator(ChainOperator):
    """Check everything the chain needs before anything is changed; fail with the full list.

    Read-only on A, B and C (catalog and settings queries, ``postgres --version`` on host B).
    Returns the facts it read (versions, settings, tables in scope; under ``not_replicated`` what logical
    replication will not carry, such as large objects left behind with ``accept_large_object_loss``; under
    ``warnings`` every warning; under ``c_role`` the rights of pgshift's role on C; under ``fallback`` what the way
    back's checks read) for later steps and reports. The checks are :mod:`pgshift.migration.preflight.checks`,
    :mod:`pgshift.migration.preflight.target_role` (the grants a non-superuser conn_c needs, each refusal naming
    the statement to run) and, with ``fallback`` on, :mod:`pgshift.migration.preflight.fallback`.

    **Several databases** (``databases``): what is each database's is checked in each (:data:`PER_DATABASE`: A's
    scope, tables, publication and what logical replication will not carry there; C's database, its tables and
    subscription, pgshift's rights in it; the way back's names), through that database's part of the chain; what is
    the server's once (the parameters, B, the roles: the union of every database's, DMS), plus room for every
    database's logical slot on B (:func:`slot_room`) and way back (:func:`way_back_room`). A database C has not
    yet is no problem: the setup creates it, so the role of conn_c must be allowed to (CREATEDB). Each problem of
    one database names it (``database <name>: …``); a problem every database finds in the same words is the
    server's (A's version or ``wal_level``, a replication role) and is listed once; warnings alike. The facts of
    each database are under ``databases`` (``{<name>: {"a": …, "c": …, …}}``) instead of at the top.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        spec = self.spec()
        problems = check_params(spec)
        facts: dict[str, Any] = {}
        if not problems:  # names are safe to use in queries from here on
            roles = check_roles(spec)
            per_db = {part.database or "": self._database(part, roles) for part in spec.database_chains()}
            first = next(iter(per_db.values()))
            major = first["a"].facts.get("major")
            b = check_b(spec, major)
            server = [roles, b] + ([check_dms(spec, major)] if spec.mode == "dms" else [])
            warnings = database_problems({db: [w for f in found.values() for w in f.warnings]
                                          for db, found in per_db.items()})
            warnings = list(dict.fromkeys(warnings + [w for finding in server for w in finding.warnings]))
            problems += database_problems({db: [p for f in found.values() for p in f.problems]
                                           for db, found in per_db.items()})
            problems += slot_room(per_db) + way_back_room(per_db)
            problems += [p for finding in server for p in finding.problems]
            facts = {"b": b.facts, "roles": roles.facts, "warnings": warnings}
            if spec.several_databases:
                facts["databases"] = {db: {k: f.facts for k, f in found.items()} for db, found in per_db.items()}
            else:
                facts.update({k: f.facts for k, f in first.items()})
            for warning in warnings:
                self.log.warning("%s", warning)
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(
                f"Preflight found {len(problems)} problem(s); nothing was changed:\n{listing}")
        tables = sum(len(found["a"].facts["tables"]) for found in per_db.values())
        self.log.info("Preflight passed: A %s, B %s, C %s, %d tables in scope%s",
                      first["a"].facts.get("version"), facts["b"].get("version"), first["c"].facts.get("version"),
                      tables, f" in {len(per_db)} databases" if spec.several_databases else "")
        return facts

    @staticmethod
    def _database(part: ChainConfig, roles: Finding) -> dict[str, Finding]:
        """What is checked in one database, by :data:`PER_DATABASE`'s keys."""
        from pgshift.migration.preflight.fallback import check_fallback  # in the task, not at parse
        from pgshift.migration.preflight.target_role import check_target_role
        from pgshift.migration.setup.databases import database_on_c

        try:
            on_c = database_on_c(part)
        except Exception:  # noqa: BLE001 - check_c names C's connection problem
            on_c = True
        a = check_a(part)
        tables = a.facts.get("tables", [])
        found = {"a": a, "c": check_c(part, tables, database_on_c=on_c),
                 "c_role": check_target_role(part, tables, roles.facts.get("roles", []), database_on_c=on_c),
                 "not_replicated": check_not_replicated(part, database_on_c=on_c),
                 "fallback": check_fallback(part, database_on_c=on_c)}
        return {key: found[key] for key in PER_DATABASE}


def database_problems(by_database: dict[str, list[str]]) -> list[str]:
    """Each database's problems naming it (``""``: a chain with an empty ``databases``, as they are); with two or
    more databases, a problem every one of them found in the same words is the server's, listed once."""
    if list(by_database) == [""]:
        return by_database[""]
    lists = list(by_database.values())
    common = [p for p in dict.fromkeys(lists[0]) if len(lists) > 1 and all(p in other for other in lists[1:])]
    return common + [f"database {db}: {p}" for db, found in by_database.items() for p in found if p not in common]


def slot_room(per_db: dict[str, dict[str, Finding]]) -> list[str]:
    """Room on B (which inherits A's ``max_replication_slots``) for every database's logical slot and the table-sync
    slots of their initial copies: check_a judges one database; several need the sum."""
    if len(per_db) < 2:
        return []
    a_facts = [found["a"].facts for found in per_db.values() if found["a"].facts]
    if len(a_facts) < len(per_db):
        return []
    needed = 1 + sum(1 + len(facts["tables"]) // 4 for facts in a_facts)
    have = int(a_facts[0]["max_replication_slots"])
    if have >= needed:
        return []
    return [f"max_replication_slots={have} (inherited by B) is too low for {len(per_db)} databases: their logical "
            f"slots and the table-sync slots of their initial copies need about {needed}"]


def way_back_room(per_db: dict[str, dict[str, Finding]]) -> list[str]:
    """Room for every database's way back at once (the cutover arms them together): on C a slot and a walsender
    each, on A an apply worker, a background worker and a replication origin each. The way back's check judges one
    database against what is in use now; several need the sum. Nothing when the way back was not read (``fallback``
    off, or a server unreadable: that check names it)."""
    facts = [found["fallback"].facts for found in per_db.values()]
    if len(facts) < 2 or not all("a" in f and "c" in f for f in facts):
        return []
    n, a, c = len(facts), facts[0]["a"], facts[0]["c"]
    problems = []
    if c["max_replication_slots"] - c["slots_used"] < n:
        problems.append(f"C has max_replication_slots={c['max_replication_slots']} with {c['slots_used']} in use: "
                        f"the way back of {n} databases needs {n} free slots on C")
    if c["max_wal_senders"] - c["senders_used"] < n:
        problems.append(f"C has max_wal_senders={c['max_wal_senders']} with {c['senders_used']} in use: the way "
                        f"back of {n} databases needs {n} walsenders for A's subscriptions")
    others = a["subscriptions_enabled"]
    if a["max_logical_replication_workers"] < others + n:
        problems.append(f"A has max_logical_replication_workers={a['max_logical_replication_workers']} with {others} "
                        f"enabled subscription(s): the way back of {n} databases needs {n} apply workers")
    if a["max_worker_processes"] < others + n + 1:
        problems.append(f"A has max_worker_processes={a['max_worker_processes']}: the logical replication launcher "
                        f"and the way back's {n} apply workers need {n + 1}, plus one per other enabled "
                        f"subscription ({others})")
    origins = a["max_active_replication_origins"]
    if origins is None:  # before PostgreSQL 18, max_replication_slots bounds a subscriber's origins
        origins = a["max_replication_slots"]
    if origins - a["origins_used"] < n:
        problems.append(f"A has {origins} replication origins with {a['origins_used']} in use: the way back of {n} "
                        f"databases needs {n}")
    return problems
