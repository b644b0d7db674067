"""Schema to C: pg_dump --schema-only from B, restored on C in one transaction, with owners and privileges."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.connections import connection_id
from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.setup.databases import about
from pgshift.migration.setup.dump import run_tool, scope_args

if TYPE_CHECKING:  # imported where the task runs, not when the DAG file is parsed
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.scope import Scope


class CopySchemaOperator(ConfiguredOperator):
    """Copy the table definitions in scope (``schemas``, ``tables``) from B (``conn_b``) to C (``conn_c``).

    pg_dump's own output carries the owners, grants, default privileges and row-level security policies: the
    roles exist on C by then (task ``migrate_roles``). Then C's owners, grants and RLS flags are made equal to
    B's wherever the restore left them different (:func:`pgshift.migration.access.sync.sync_access`), except ``FORCE
    ROW LEVEL
    SECURITY``, which stays off until the cutover: the subscription's apply worker writes as the table owner, and
    a forced policy would stop it. If every table is already on C the copy is skipped (the privileges are still
    synced); if only some are, it refuses rather than guess.

    For a chain of named databases, each database in turn: created on C first when C has none of that name (as
    conn_c's role, which owns it), then copied from that database on B into it. Returns the copy's facts; for named
    databases ``{"databases": {<database>: facts}}``, each with ``database_created``.
    """

    template_fields: Sequence[str] = (*ConfiguredOperator.template_fields, "pg_bin_dir")

    def __init__(self, *, pg_bin_dir: str | None = None, **kwargs: Any) -> None:
        """``pg_bin_dir``: where pg_dump and psql are (None: see
        :func:`pgshift.migration.setup.binaries.client_tool`)."""
        super().__init__(**kwargs)
        self.pg_bin_dir = pg_bin_dir

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.setup.databases import locale_problem

        dag_id = context["dag"].dag_id
        # Every database's before the first is created: a refusal leaves C as it was.
        problems = [p for part in self.chain.database_chains() if (p := locale_problem(part))]
        if problems:
            raise AirflowFailException("No database was created on C:\n" + "\n".join(f"  - {p}" for p in problems))
        results = {part.database or "": self._copy_database(part, dag_id) for part in self.chain.database_chains()}
        if not self.chain.several_databases:
            return results[""]
        return {"databases": results}

    def _copy_database(self, part: ChainConfig, dag_id: str) -> dict[str, Any]:
        """One database: created on C when absent (:func:`pgshift.migration.setup.databases.ensure_database_on_c`),
        its schema copied, its privileges synced and their baseline kept (privileges are each database's)."""
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.target import TargetHook
        from pgshift.migration.scope import Scope
        from pgshift.migration.setup.databases import ensure_database_on_c

        created, owner = ensure_database_on_c(part)
        if created:
            self.log.info("Created database %r on C as the role of connection %s%s", part.database,
                          connection_id(part.conn_c), f", owned by {owner} as on A" if owner else ", which owns it")
        scope = Scope.from_params(part.schemas, part.tables)
        with MigrationHook(part.conn_b) as src, TargetHook(part.conn_c) as dst:
            in_scope = [(t.schema, t.table) for t in src.scope_tables(scope, "public")]
            present = dst.tables_present(in_scope)
            src_env, dst_env = src.libpq_env(), dst.libpq_env()
        names = [f"{s}.{t}" for s, t in in_scope]
        copied = self._copy(part, scope, in_scope, present, src_env, dst_env)
        if copied:
            self.log.info(about(part, "Copied the schema of %d tables to C, with owners and privileges: %s"),
                          len(names), ", ".join(names))
        changes = self._sync_privileges(part, scope, dag_id)
        result: dict[str, Any] = {"copied": copied, "tables": names, "privilege_changes": changes}
        if part.database:
            result["database_created"] = created
        return result

    def _copy(self, part: ChainConfig, scope: Scope, in_scope: list[tuple[str, str]],
              present: list[tuple[str, str]], src_env: dict[str, str], dst_env: dict[str, str]) -> bool:
        from pgshift.migration.setup.binaries import client_tool

        if not in_scope:
            raise AirflowFailException(about(part, f"no tables in scope ({scope.describe()}) on the source"))
        if len(present) == len(in_scope):
            self.log.info(about(part, "All %d tables already exist on C: schema copy skipped"), len(in_scope))
            return False
        if present:
            raise AirflowFailException(about(part,
                "C already has some but not all tables in scope ("
                + ", ".join(f"{s}.{t}" for s, t in present)
                + "): drop them on C, or create the missing ones by hand"))
        args = scope_args(scope)
        if part.parallel_copy:  # indexes, constraints, triggers: after the data (initial_copy builds them)
            args.append("--section=pre-data")
        with tempfile.TemporaryDirectory(prefix="pgshift-schema-") as tmp:
            dump = os.path.join(tmp, "schema.sql")
            run_tool([client_tool("pg_dump", self.pg_bin_dir), *args, f"--file={dump}"], src_env,
                     about(part, "pg_dump on B"))
            run_tool([client_tool("psql", self.pg_bin_dir), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                      "--single-transaction", f"--file={dump}"], dst_env, about(part, "restore on C"))
        return True

    def _sync_privileges(self, part: ChainConfig, scope: Scope, dag_id: str) -> list[dict[str, str]]:
        """C's owners, grants and RLS flags as B's, FORCE ROW LEVEL SECURITY left for the cutover; C's as left are
        kept as the baseline from which the cutover tells changes made on A from changes made on C (one per
        database: :func:`pgshift.migration.access.sync.baseline_key`)."""
        from pgshift.migration.access.sync import AccessSpec, read_snapshot, save_baseline, sync_access
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.target import TargetHook

        with MigrationHook(part.conn_b) as src, TargetHook(part.conn_c) as dst:
            spec = AccessSpec(scope=scope)
            plan = sync_access(src, dst, spec, force_rls=False)
            baseline = read_snapshot(dst, spec)
        save_baseline(dag_id, baseline, part.database)
        for change in plan.changes:
            self.log.info(about(part, "Privileges on C: %s: %s"), change.object, change.change)
        for note in plan.not_synced:
            self.log.warning(about(part, "Privileges on C not synced: %s"), note)
        return [{"object": ch.object, "change": ch.change} for ch in plan.changes]
