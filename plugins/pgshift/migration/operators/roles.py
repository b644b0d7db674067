"""The roles in scope to C, before the schema copy: created or updated from A's catalog, NOLOGIN until the cutover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.connections import connection_id
from pgshift.migration.operators.configured import ConfiguredOperator

if TYPE_CHECKING:  # imported where the task runs, not when the DAG file is parsed
    from pgshift.migration.access.sync import AccessSpec


class MigrateRolesOperator(ConfiguredOperator):
    """Create (or update where they differ) on ``conn_c`` the roles the migrated objects need, from ``conn_a``.

    The roles in scope are derived from A's catalog (owners, grantees, policy and default-privilege roles of the
    migrated objects, ``app_roles``, and their memberships both ways), plus ``extra_roles``, minus
    ``exclude_roles``. Each gets A's attributes and password verifier, so the application's password works on C
    unchanged; attributes Aurora cannot grant (SUPERUSER, REPLICATION, BYPASSRLS) are dropped with a warning.
    Every one is NOLOGIN on C until the cutover is ready: nothing but replication writes there before the move.
    ``memberships_on_c`` adds memberships wanted on C only (``{"app_admin": ["rds_superuser"]}``).
    Roles are the server's: a chain of several databases migrates them once, the union of every database's roles in
    scope (:meth:`roles_in_scope`); privileges are each database's (task ``copy_schema_to_c``).
    The role pgshift connects to C with is never touched. Returns the changes and warnings (never a secret).
    """

    def access_spec(self) -> AccessSpec:
        from pgshift.migration.access.sync import AccessSpec

        chain = self.chain
        spec = AccessSpec.from_params(schemas=chain.schemas, tables=chain.tables, app_roles=chain.app_roles,
                                      extra_roles=chain.extra_roles, exclude_roles=chain.exclude_roles,
                                      memberships_on_c=chain.memberships_on_c,
                                      c_login=BaseHook.get_connection(connection_id(chain.conn_c)).login)
        problems = spec.problems()
        if problems:
            raise AirflowFailException("Roles not migrated; nothing was changed:\n"
                                       + "\n".join(f"  - {p}" for p in problems))
        return spec

    def roles_in_scope(self, spec: AccessSpec) -> list[str]:
        """Every database's roles in scope (a chain of named databases): roles are the server's, migrated once,
        through conn_a's and conn_c's own databases; which ones the objects need is read in each database."""
        from pgshift.migration.access.sync import roles_of_databases
        from pgshift.migration.hooks.primary import PrimaryHook

        hooks = [PrimaryHook(part.conn_a) for part in self.chain.database_chains()]
        try:
            return roles_of_databases(hooks, spec)
        finally:
            for hook in hooks:
                hook.close()

    def execute(self, context: Context) -> dict[str, Any]:
        from pgshift.migration.access.sync import migrate_roles
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.target import TargetHook

        spec = self.access_spec()
        names, databases = None, None
        if self.chain.several_databases:  # every database's roles, and their settings in each (ALTER ROLE … IN)
            names = self.roles_in_scope(spec)
            databases = [str(part.database) for part in self.chain.database_chains()]
        with PrimaryHook(self.chain.conn_a) as a, TargetHook(self.chain.conn_c) as c:
            plan = migrate_roles(a, c, spec, names=names, databases=databases)
        for warning in plan.warnings:
            self.log.warning("%s", warning)
        for change in plan.changes:
            self.log.info("Role %s on C: %s", change.role, change.change)
        if not plan.changes:
            self.log.info("The roles in scope on C already match A's (NOLOGIN until the cutover): nothing to change")
        return {"changes": [{"role": ch.role, "change": ch.change} for ch in plan.changes],
                "warnings": list(plan.warnings), "login_on_a": list(plan.login_on_a)}
