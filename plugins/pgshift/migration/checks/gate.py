"""The cutover gate: one reading of every figure that must be in bounds before A is fenced.

**Several databases** (``databases`` not empty: :meth:`~pgshift.migration.config.ChainConfig.database_chains`).
Decisions, written down here because the gate task and the cutover's last reading both rest on them:

- A -> B is the cluster's: B replays every database of A in one WAL stream, so it is read once, under
  ``a_to_b``, through ``conn_a`` as given (the connection's own database).
- B -> C and the subscription (native) or the DMS task (dms) are each database's: read per database of the chain,
  with that database's part (its qualified connection ids, its slot, subscription and task), under keys naming it:
  ``b_to_c/<database>``, ``subscription/<database>``, ``dms/<database>`` (the form of a qualified connection id,
  ``pgshift_a/<database>``). Each such figure carries ``database``, and its message starts ``database <name>:``,
  so the gate task's log, its refusal and the cutover's report name the database that is out of bounds.
- Before those, ``databases`` reads A's databases once (:meth:`MigrationHook.migratable_databases`, what
  ``databases ['*']`` means): a database of the chain that A no longer has, or that takes no connections, is
  **fatal**, named, "refused before the fence": a cutover cannot fence, drain or verify a database it cannot reach,
  and waiting does not bring a database back. Read first, so that a missing database refuses with its own name
  rather than through the errors of its slot and subscription (a fatal figure ends the reading).
- A chain with an empty ``databases`` (the one database ``conn_a`` names) reads exactly what it always read, under
  the keys it always had (``a_to_b``, ``b_to_c``, ``subscription`` or ``dms``): reports, tests and docs keep their
  meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult
from pgshift.migration.checks.cdc_lag import CdcLagCheck
from pgshift.migration.checks.dms_task import DmsTaskCheck
from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
from pgshift.migration.checks.wal_lag import WalLagCheck
from pgshift.migration.config import Source
from pgshift.migration.limits import ChainLimits

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig

A_TO_B = "a_to_b"  # the figure of A -> B (none once B was promoted)
DATABASES_KEY = "databases"  # the figure of the chain's databases on A (several databases only)
DATABASE_KEY_SEPARATOR = "/"  # b_to_c/<database>: the form of a qualified connection id


def database_key(key: str, database: str) -> str:
    """The key of a per-database figure (``b_to_c``, ``billing`` -> ``b_to_c/billing``)."""
    return f"{key}{DATABASE_KEY_SEPARATOR}{database}"


@dataclass(frozen=True)
class ChainDatabasesCheck(Check):
    """Every database of the chain is on A and takes connections; one missing is fatal (refused before the fence).

    ``databases``: the chain's databases joined by commas (a check's fields are JSON primitives; a database name
    pgshift takes holds no comma: :data:`pgshift.migration.config.DATABASE_NAME`)."""

    name: ClassVar[str] = "databases"
    conn_a: str
    databases: str

    def take_reading(self) -> CheckResult:
        from pgshift.migration.hooks.base import MigrationHook

        with MigrationHook(self.conn_a) as a:
            on_a = a.migratable_databases()
        return databases_reading(self.databases.split(","), on_a)


def databases_reading(chain: list[str], on_a: list[str]) -> CheckResult:
    """The chain's databases against A's (:func:`pgshift.migration.databases.missing_databases`' rule)."""
    missing = [name for name in chain if name not in on_a]
    details = {"chain": chain, "on_a": on_a, "missing": missing}
    if missing:
        return CheckResult(
            False, f"database(s) {', '.join(missing)} of the chain not on A (dropped, renamed, or taking no "
                   f"connections; A has {', '.join(on_a) or 'none'}): refused before the fence, a cutover cannot "
                   "fence, drain or verify a database it cannot reach; restore it on A, or set the chain up again "
                   "without it", details, fatal=True)
    return CheckResult(True, f"the chain's {len(chain)} database(s) are on A: {', '.join(chain)}", details)


@dataclass(frozen=True)
class GateSpec:
    """What the gate reads, in order, each under the key its figures are reported by; ``databases``: the keys of
    the per-database figures and the database each is about (empty for a chain of one unnamed database)."""

    checks: tuple[tuple[str, Check], ...]
    databases: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, config: ChainConfig) -> GateSpec:
        """The gate of the chain ``config`` describes, with its limits (:meth:`ChainConfig.limits`): for a chain
        with ``databases``, A's databases, A -> B once, then each database's B -> C and subscription or task. Once B
        was promoted (``source`` b) there is no A -> B: ``config`` has B in A's place (:meth:`ChainConfig.with_source`)
        and the rest is read from B."""
        single = cls.for_chain(mode=config.mode, conn_a=config.conn_a, conn_b=config.conn_b, conn_c=config.conn_c,
                               physical_slot=config.physical_slot_name, slot=config.slot_name,
                               subscription=config.subscription_name, limits=config.limits(),
                               aws_conn_id=config.aws_conn_id, dms_task_id=config.dms_task_id)
        if config.source == Source.B:  # B promoted (A lost): there is no A -> B to read
            single = cls(tuple((key, check) for key, check in single.checks if key != A_TO_B))
        if not config.several_databases:
            return single
        checks: list[tuple[str, Check]] = [
            (DATABASES_KEY, ChainDatabasesCheck(conn_a=config.conn_a, databases=",".join(config.databases))),
            *[(key, check) for key, check in single.checks if key == A_TO_B]]  # the cluster's
        databases: list[tuple[str, str]] = []
        for part in config.database_chains():
            name = part.database or ""
            per_database = cls.for_chain(mode=part.mode, conn_a=part.conn_a, conn_b=part.conn_b, conn_c=part.conn_c,
                                         physical_slot=part.physical_slot_name, slot=part.slot_name,
                                         subscription=part.subscription_name, limits=part.limits(),
                                         aws_conn_id=part.aws_conn_id, dms_task_id=part.dms_task_id)
            for key, check in per_database.checks[1:]:
                checks.append((database_key(key, name), check))
                databases.append((database_key(key, name), name))
        return cls(tuple(checks), tuple(databases))

    @classmethod
    def for_chain(cls, *, mode: str, conn_a: str, conn_b: str, conn_c: str, physical_slot: str, slot: str,
                  subscription: str, limits: ChainLimits, aws_conn_id: str | None = None,
                  dms_task_id: str | None = None) -> GateSpec:
        """A -> B, B -> C, then the subscription on C (native) or the DMS task (dms)."""
        last: tuple[str, Check] = (
            ("subscription", SubscriptionSyncedCheck(conn_c=conn_c, subscription=subscription)) if mode == "native"
            else ("dms", DmsTaskCheck(aws_conn_id=aws_conn_id, task_id=dms_task_id or "")))
        return cls((
            (A_TO_B, WalLagCheck(conn_a=conn_a, conn_b=conn_b, physical_slot=physical_slot,
                                   max_bytes=limits.wal_lag_max_bytes, max_seconds=limits.wal_lag_max_seconds)),
            ("b_to_c", CdcLagCheck(conn_b=conn_b, slot=slot, max_bytes=limits.cdc_lag_max_bytes)),
            last,
        ))


def gate_reading(spec: GateSpec) -> tuple[list[str], dict[str, Any]]:
    """Problems (empty: the gate is open) and the figures read, for the report.

    Each figure carries ``fatal`` (waiting cannot help: see :func:`fatal_problems`) and ``warning`` (in
    bounds, but worth saying: e.g. a past apply error the subscription recovered from); a per-database figure also
    ``database``, and its message names it. The checks are read in order and a fatal one ends the reading: the rest
    could only cost time (the subscription check takes a second sample seconds later when C has counted errors).
    """
    of_database = dict(spec.databases)
    readings: dict[str, CheckResult] = {}
    for key, check in spec.checks:
        readings[key] = reading = check.read()
        if key in of_database:
            reading.message = f"database {of_database[key]}: {reading.message}"
        if reading.fatal:
            break
    problems = [r.message for r in readings.values() if not r.done]
    return problems, {k: {"ok": r.done, "message": r.message, "fatal": r.fatal, "warning": r.warning,
                          **({"database": of_database[k]} if k in of_database else {}), **r.details}
                      for k, r in readings.items()}


def fatal_problems(figures: dict[str, Any]) -> list[str]:
    """The messages of a reading's figures that waiting cannot fix (no slot on B, no or a disabled
    subscription, an invalidated slot, a failed DMS task, a database of the chain gone from A...): the gate refuses
    at once on any."""
    return [f["message"] for f in figures.values() if f.get("fatal")]


def warnings(figures: dict[str, Any]) -> list[str]:
    """The messages of figures in bounds that are still worth a warning (e.g. a recovered apply error)."""
    return [f["message"] for f in figures.values() if f.get("ok") and f.get("warning")]
