"""The chain's validation, A -> B -> C, per database: the part of
:class:`~pgshift.migration.operators.validate.ValidateChainOperator` that runs before a cutover.

What is read once and what per database (``databases``: :meth:`ChainConfig.database_chains`), and why:

- **Once, for the cluster**: B (the preflight's :func:`check_b`: running, a standby of A's major), A -> B (WAL lag,
  B's WAL receiver, the WAL A's physical slot keeps). B replays every database of A in one stream: one figure each.
- **Per database**, with that database's part of the chain (its qualified connection ids and its names): the
  preflight's checks of A and C (:func:`check_params`, :func:`check_a`, :func:`check_c`,
  :func:`check_not_replicated`: tables in scope, publication, large objects and extensions are a database's), the
  logical slot on B, the subscription (native) or the DMS task (dms), parity per table, and access (the roles in
  scope of that database's objects, and C's privileges against setup's baseline).
- **A's databases** (a chain with ``databases`` only): read once (:meth:`MigrationHook.migratable_databases`). A
  database of the chain that A no longer has, or that takes no connections, is a problem of that database (its
  other checks are not run: they could only fail to connect); a database of A that the chain does not migrate
  (:func:`pgshift.migration.databases.unmigrated_databases`) is a note: a cutover leaves it on A, which may be
  meant, or a database created after setup.

**The report.** A chain with an empty ``databases`` (the one database ``conn_a`` names) keeps the report it always
had: every figure under ``figures``, ``parity`` and ``access`` at the top. A chain with ``databases`` has the
cluster's figures (A -> B) under ``figures`` and one section per database under ``databases.<name>``: its
``figures`` (the slot, B -> C lag, the subscription or task), ``preflight``, ``parity`` (per table), ``access``,
``schema_drift`` (:meth:`SchemaDrift.as_report <pgshift.migration.schema.drift.SchemaDrift.as_report>`),
``problems`` and ``notes``. Every problem of a section is also in the report's ``problems``, starting
``database <name>:``, so that the failure a user sees names the database; so is every note, once for the databases
that share it (``databases pgshift, billing: ...``: a role's finding, said of each database whose objects bring it
in scope). The lag chart draws one B -> C
series per database from these sections (:func:`pgshift.common.chart.lag_chart`).

**The preflight's look-ups of a login.** :func:`check_a` and :func:`check_roles` look up the login of
``conn_b_subscription`` and of ``conn_c`` with ``BaseHook.get_connection``, which takes a plain connection id
only; a login is the connection's whatever the database, so they are given those two ids plain
(:func:`looked_up`), and every id they connect with qualified.

**parity=full** pauses B's replay once per database (each at its own frozen point, each pause bounded by
``max_replay_pause_seconds``): one database's tables are compared at one point, as a cutover verifies them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from pgshift.common.connections import connection_id
from pgshift.migration.config import ChainConfig
from pgshift.migration.preflight.checks import (
    check_a,
    check_b,
    check_c,
    check_not_replicated,
    check_params,
    check_roles,
)
from pgshift.migration.validation.section import Section, merge

if TYPE_CHECKING:  # drivers are imported where a task runs, not when a DAG is parsed
    from pgshift.migration.checks.slot import WalLimits
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.schema.heal import Healing


DMS_REPORTS_ONLY = ("schema drift is reported only in DMS mode, not healed (ddl=apply_additive runs nothing: the "
                    "task's own DDL handling and table mappings decide what reaches C); run each statement on C")


def looked_up(part: ChainConfig) -> ChainConfig:
    """``part`` with the connections the preflight only looks a login up by given plain (see the module)."""
    return dataclasses.replace(part, conn_b_subscription=connection_id(part.conn_b_subscription),
                               conn_c=connection_id(part.conn_c))


class ChainValidation:
    """The chain's checks of :class:`~pgshift.migration.operators.validate.ValidateChainOperator` (its ``chain``,
    ``log``, ``wal_limits``; ``_pausing`` while B's replay is paused)."""

    if TYPE_CHECKING:  # the operator's
        @property
        def chain(self) -> ChainConfig: ...

        @property
        def log(self) -> Any: ...  # Airflow's task logger (a Protocol of its own, not logging.Logger)

        _pausing: bool
        _from_b: bool  # the record's source is B (action=promote_b): no A, B a primary

        def wal_limits(self) -> WalLimits: ...

    def validate_chain(self, spec: ChainConfig, dag_id: str, top: Section) -> dict[str, Section]:
        """Every check of the module's list into ``top`` (the report's own lists), and the sections per database
        (empty for a chain of one unnamed database, whose findings go to ``top`` as they always did)."""
        if self._from_b:
            note_source_b(spec, top)
        if not spec.several_databases:
            facts = self._preflight_database(spec, top, top)
            self._database(spec, dag_id, top, wal_ok=self._b_and_wal(spec, facts.get("major"), top))
            return {}
        on_a = self._databases_on_a(spec, top)
        parts = {part.database or "": part for part in spec.database_chains()}
        sections = {name: Section(name) for name in parts}
        major = None
        for name, part in parts.items():
            if on_a is not None and name not in on_a:
                sections[name].problems.append(
                    f"not on A (dropped, renamed or taking no connections; A has {', '.join(on_a) or 'none'}): "
                    "its part of the chain cannot be checked, and a cutover would be refused before the fence")
                continue
            facts = self._preflight_database(part, sections[name], top)
            major = major or facts.get("major")
        wal_ok = self._b_and_wal(spec, major, top)
        for name, part in parts.items():
            if on_a is None or name in on_a:
                self._database(part, dag_id, sections[name], wal_ok)
        merge(top, sections)
        return sections

    def _databases_on_a(self, spec: ChainConfig, top: Section) -> list[str] | None:
        """A's databases (None if A cannot be listed: a problem); the ones the chain leaves behind are notes."""
        from pgshift.migration.databases import unmigrated_databases
        from pgshift.migration.hooks.base import MigrationHook

        try:
            with MigrationHook(spec.conn_a) as a:
                on_a = a.migratable_databases()
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            top.problems.append(f"A ({spec.conn_a}): cannot list its databases: {exc}".strip())
            return None
        left = unmigrated_databases(spec, on_a)
        top.report.update({"databases_on_a": on_a, "unmigrated_databases": left})
        top.notes += [f"database {name} of A is not migrated by this chain (databases: {', '.join(spec.databases)}): "
                      "a cutover leaves it on A" for name in left]
        return on_a

    # -- the preflight's checks
    def _preflight_database(self, part: ChainConfig, section: Section, top: Section) -> dict[str, Any]:
        """The preflight's checks of one database's A and C (its names first); returns check_a's facts."""
        section.problems += check_params(part) if section is not top else []  # (the chain's: checked already)
        a = check_a(looked_up(part))
        section.problems += a.problems
        section.problems += check_c(part, a.facts.get("tables", [])).problems
        carried = check_not_replicated(part)
        section.problems += carried.problems
        for warning in carried.warnings:
            section.notes.append(warning)
            self.log.warning("%s", section.named(warning))
        section.report["preflight"] = {"a_version": a.facts.get("version"),
                                       "tables_in_scope": len(a.facts.get("tables", [])),
                                       "not_replicated": carried.facts}
        if section is not top:
            top.report.setdefault("preflight", {}).setdefault("a_version", a.facts.get("version"))
        return a.facts

    def _b_and_wal(self, spec: ChainConfig, a_major: int | None, top: Section) -> bool:
        """B as A's standby and A -> B (True if in bounds); neither once B was promoted (there is no A -> B)."""
        if self._from_b:
            return True
        self._preflight_b(spec, a_major, top)
        return self._wal(top)

    def _preflight_b(self, spec: ChainConfig, a_major: int | None, top: Section) -> None:
        """B, the cluster's: running, a standby of A's major."""
        b = check_b(spec, a_major)
        top.problems += b.problems
        if not b.facts.get("running"):  # (a running B that is not a standby is already named by check_b)
            top.problems.append(f"B ({spec.conn_b}) is not running or cannot be reached")
        top.report.setdefault("preflight", {})["b_version"] = b.facts.get("version")

    # -- replication
    def _wal(self, top: Section) -> bool:
        """A -> B: lag and the WAL A's physical slot keeps. True if in bounds."""
        from pgshift.migration.checks.wal_lag import evaluate_wal_lag, read_wal_lag

        chain, figures = self.chain, top.figures
        try:
            raw = read_wal_lag(chain.conn_a, chain.conn_b, chain.physical_slot_name)
            limits = chain.limits()
            result = evaluate_wal_lag(raw, chain.physical_slot_name, limits.wal_lag_max_bytes,
                                      limits.wal_lag_max_seconds)
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            top.problems.append(f"A -> B: cannot read the figures: {exc}")
            return False
        figures["a_to_b_lag_bytes"] = result.details.get("lag_bytes")
        figures["a_to_b_lag_seconds"] = result.details.get("lag_seconds")
        figures["b_receiver_status"] = result.details.get("b_receiver_status")
        if not result.done:
            top.problems.append(f"A -> B: {result.message}")
        sender = raw["a"] or {}
        figures["a_physical_slot_retained_bytes"] = sender.get("retained_bytes")
        if sender.get("retained_bytes") and sender["retained_bytes"] > chain.max_retained_wal_bytes:
            top.problems.append(f"physical slot {chain.physical_slot_name!r} keeps {sender['retained_bytes']} "
                                f"bytes of WAL on A (limit {chain.max_retained_wal_bytes}): B is far behind, and "
                                "A's disk fills")
        return result.done

    def _database(self, part: ChainConfig, dag_id: str, section: Section, wal_ok: bool) -> None:
        """One database's slot, subscription or task, parity and access."""
        healthy = self._slot(part, section) and wal_ok
        if part.mode == "native":
            self._subscription(part, section)
        else:
            self._dms(part, section)
        section.report["parity"] = self._parity(part, section, healthy)
        section.report["access"] = self._access(part, dag_id, section)
        section.report["schema_drift"] = self._schema_drift(part, section)

    def _slot(self, part: ChainConfig, section: Section) -> bool:
        """The database's logical slot on B. True if C can be expected to keep up."""
        from pgshift.migration.checks.cdc_lag import B_SLOT, CdcLagCheck
        from pgshift.migration.checks.slot import slot_wal_problems, wal_unreserved
        from pgshift.migration.hooks.states import SlotState

        if self._from_b:
            from pgshift.migration.validation.from_b import promoted_slot_reading

            reading = promoted_slot_reading(part)
        else:
            reading = CdcLagCheck(conn_b=part.conn_b, slot=part.slot_name, max_bytes=part.cdc_lag_max_bytes).read()
        if not reading.done:
            section.problems.append(reading.message)
        if not reading.details:  # no slot, or B could not be read
            return False
        slot = SlotState(**reading.details)
        section.figures.update({
            "slot_wal_status": slot.wal_status, "slot_safe_wal_size": slot.safe_wal_size,
            "slot_conflicting": slot.conflicting, "slot_invalidation_reason": slot.invalidation_reason,
            "slot_retained_bytes": slot.retained_bytes, "b_to_c_lag_bytes": slot.lag_bytes, "slot_active": slot.active})
        if reading.fatal:  # invalidated: nothing more to say about its WAL
            return False
        section.problems += slot_wal_problems(slot, B_SLOT, self.wal_limits())
        return not wal_unreserved(slot) and slot.active

    def _subscription(self, part: ChainConfig, section: Section) -> None:
        """The subscription check's verdict: an apply/sync error counted in the past that the apply worker
        recovered from is a note (and a warning in the log), a current one a problem."""
        from pgshift.migration.checks.subscription import SubscriptionSyncedCheck

        reading = SubscriptionSyncedCheck(conn_c=part.conn_c, subscription=part.subscription_name).read()
        if not reading.done:
            section.problems.append(reading.message)
        elif reading.warning:
            section.notes.append(reading.message)
            self.log.warning("%s", section.named(reading.message))
        st = reading.details
        if st:
            section.figures.update({
                "apply_error_count": st["apply_error_count"], "sync_error_count": st["sync_error_count"],
                "subscription_errors": st.get("errors"), "tables_ready": f"{st['ready']}/{st['tables']}"})

    def _dms(self, part: ChainConfig, section: Section) -> None:
        from pgshift.migration.checks.dms_task import DmsTaskCheck

        reading = DmsTaskCheck(aws_conn_id=part.aws_conn_id, task_id=part.dms_task_id).read()
        section.figures.update({"dms_status": reading.details.get("status"),
                                "dms_last_failure_message": reading.details.get("last_failure_message")})
        if not reading.done:
            section.problems.append(reading.message)

    # -- parity
    def _parity(self, part: ChainConfig, section: Section, healthy: bool) -> list[dict[str, Any]]:
        """The database's tables, B against C: sampled by key, or every row at a frozen point (``parity=full``)."""
        if part.parity == "off":
            return []
        if not healthy:
            section.notes.append("parity not checked: replication is not healthy, so C is expected to differ")
            return []
        from pgshift.migration.hooks.standby import StandbyHook
        from pgshift.migration.scope import Scope
        from pgshift.migration.switchover.drain import wait_confirmed
        from pgshift.migration.validation.sampling import CHAIN, parity_findings, sample_parity

        scope = Scope.from_params(part.schemas, part.tables)
        with StandbyHook(part.conn_b) as b:
            tables = [(t.schema, t.table) for t in b.scope_tables(scope, "public")]
            started = time.monotonic()

            def confirmed(lsn: str) -> None:
                wait_confirmed(b, part.slot_name, lsn, part.drain_timeout_seconds)

            full = part.parity == "full" and not self._from_b
            if part.parity == "full" and self._from_b:
                section.notes.append("parity=full freezes B's replay of A, and B was promoted: sampled instead")
            if full:
                results = self._frozen(b, part, tables, section.notes)
            else:
                # Promoted, B's replay position stands still: its own position is what C must have confirmed.
                position = b.own_wal_lsn if self._from_b else None
                results = sample_parity(b, part.conn_c, tables, part.parity_sample_rows,
                                        wait_target_confirmed=confirmed, position=position)
        parity_findings(results, "full" if full else "sample", len(tables), time.monotonic() - started,
                        section.problems, section.notes, counted=CHAIN if full else None)
        return results

    def _frozen(self, b: StandbyHook, part: ChainConfig, tables: list[tuple[str, str]],
                notes: list[str]) -> list[dict[str, Any]]:
        """parity=full: every table, B against C at a frozen point of B's replay; no read on A."""
        from pgshift.migration.verify.frozen import FrozenPointError, compare_frozen
        from pgshift.migration.verify.parity import hash_methods

        self._pausing = b.replay_pause_state()[0] == "not paused"  # a DBA's pause is theirs to lift
        try:
            frozen = compare_frozen(b, part.conn_c, part.slot_name, tables,
                                    confirm_timeout=part.drain_timeout_seconds,
                                    max_pause=part.max_replay_pause_seconds, methods=hash_methods(b, tables))
        except FrozenPointError as exc:
            return [{"table": "(all)", "status": "error", "note": str(exc), "source_rows": None,
                     "target_rows": None}]
        finally:
            self._pausing = False
        state = "resumed" if frozen.resumed else "left paused, as it was before"
        notes.append(f"parity (full): B and C compared at B's frozen position {frozen.lsn}; B -> C held back "
                     f"{frozen.paused_seconds:.2f} s, B's replay {state}; A not read")
        return [r.as_dict() for r in frozen.tables]

    # -- schema
    def _schema_drift(self, part: ChainConfig, section: Section) -> dict[str, Any] | None:
        """A's and C's schemas compared for the database's scope; each difference is a problem naming the statement
        that makes C match A (:mod:`pgshift.migration.schema.drift`): the cutover would refuse it."""
        from pgshift.migration.config import Ddl
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.target import TargetHook
        from pgshift.migration.schema.drift import ADDITIVE, drift
        from pgshift.migration.schema.heal import heal_additive
        from pgshift.migration.scope import Scope

        scope, healing = Scope.from_params(part.schemas, part.tables), None
        heal = part.ddl == Ddl.APPLY_ADDITIVE and part.mode == "native"
        try:
            with PrimaryHook(part.conn_a) as a, TargetHook(part.conn_c) as c:
                found = drift(a, c, scope)
                if heal and found.of_kind(ADDITIVE):
                    healing = heal_additive(c, found, part.subscription_name)
                    found = drift(a, c, scope)  # what is left
        except Exception as exc:  # noqa: BLE001 - the connection problems are named by the other checks
            section.notes.append(f"schemas of A and C not compared: {exc}")
            return None
        if part.ddl == Ddl.APPLY_ADDITIVE and part.mode != "native":  # said on every run: healing was asked for
            section.notes.append(DMS_REPORTS_ONLY)
        report = found.as_report()
        if healing is not None:
            report["healed"] = healing.as_report()
            self._healed(healing, section)
        section.problems += found.problems()
        return report

    def _healed(self, healing: Healing, section: Section) -> None:
        """What ``ddl=apply_additive`` ran on C, in the notes and the log; a statement C refused is a problem."""
        for d in healing.applied:
            section.notes.append(f"schema drift healed on C: {d.object}: {d.ddl}")
            self.log.warning("%s", section.named(f"Schema drift healed on C: {d.object}: {d.ddl}"))
        if healing.refreshed:
            section.notes.append("subscription refreshed: the new tables' rows are copied from B")
        if healing.failed:
            failed, error = healing.failed
            section.problems.append(f"schema drift: C refused {failed.ddl}: {error} (the later statements were not "
                                    "run)")

    # -- access
    def _access(self, part: ChainConfig, dag_id: str, section: Section) -> dict[str, Any]:
        """The roles in scope (preflight's findings are notes), and whether C's owners and privileges were changed
        behind pgshift's back since setup: the cutover would refuse that, so it is a problem now."""
        from pgshift.migration.access.sync import AccessSpec, drift, load_baseline, read_snapshot
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.target import TargetHook

        roles = check_roles(looked_up(part))
        section.problems += roles.problems
        section.notes += roles.warnings
        baseline = load_baseline(baseline_id(dag_id, part, self.chain))
        if baseline is None:
            section.notes.append("no baseline of C's privileges from setup (set up by an older pgshift): the "
                                 "cutover will bring C to A's privileges wherever they differ")
            return {"roles": roles.facts, "drift": None}
        access = AccessSpec.from_params(schemas=part.schemas, tables=part.tables)
        try:
            with PrimaryHook(part.conn_a) as a, TargetHook(part.conn_c) as c:
                changed = drift(baseline, read_snapshot(a, access), read_snapshot(c, access))
        except Exception as exc:  # noqa: BLE001 - the connection problems are named by the other checks
            section.notes.append(f"privileges on C not compared: {exc}")
            return {"roles": roles.facts, "drift": None}
        if changed:
            section.problems.append("C's privileges were changed behind pgshift's back since setup (A did not "
                                    "change there); the cutover would refuse them: " + "; ".join(changed))
        return {"roles": roles.facts, "drift": changed}


def note_source_b(spec: ChainConfig, top: Section) -> None:
    """The note saying what is skipped once B was promoted (A lost): ``spec`` has B in A's place already
    (:meth:`ChainConfig.with_source`, applied by every operator's ``chain``)."""
    top.notes.append(f"B was promoted (action=promote_b): it is the chain's source; A and A -> B are not checked, "
                     f"the preflight's checks of A run on B ({spec.conn_b}), B -> C goes on being checked")


def baseline_id(dag_id: str, part: ChainConfig, chain: ChainConfig) -> str:
    """The id :func:`pgshift.migration.access.sync.load_baseline` finds ``part``'s baseline of C's privileges under:
    the DAG's id for a chain of one unnamed database (the baseline it always had); for a chain of named databases,
    privileges being each database's, setup keeps one baseline per database, every one of them (the first too)
    under ``<dag_id>_<database>`` (``baseline_key(dag_id, database)`` of the setup's part of issue 23, which is the
    key ``load_baseline`` makes of this id). A database without one is a note, as for any chain set up before
    pgshift kept a baseline."""
    return dag_id if not chain.several_databases else f"{dag_id}_{part.database}"
