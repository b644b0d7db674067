"""The cutover's phases that make C ready for the application, not only for its rows (see
:mod:`pgshift.migration.access.sync`).

After the fence and the drain: :meth:`AccessPhases.sync_access` (roles, owners, grants, RLS as A's now),
:meth:`~AccessPhases.refresh_materialized_views`; in the verify step :meth:`~AccessPhases.verify_access` (privilege
parity) and :meth:`~AccessPhases.prove_login` (each app role's password and a read and a write, rolled back, while
it may not log in yet); after the finalize :meth:`~AccessPhases.open_login`. The dry run has
:meth:`~AccessPhases.preview_access` instead, which changes nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pgshift.migration.switchover.report import (
    LoginProof,
    PrivilegeChange,
    PrivilegeChanges,
    RoleChange,
    RoleChanges,
    ViewRefresh,
)
from pgshift.migration.switchover.results import AccessSynced, AccessVerified, LoginOpened, LoginProven, Plan
from pgshift.migration.switchover.state import Event, Timeline

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.access.privileges import AccessPlan, AccessSnapshot
    from pgshift.migration.access.roles import RolePlan
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.switchover.fence import FenceRecord
    from pgshift.migration.switchover.report import CutoverReport


class AccessAbort(Exception):
    """C is not ready for the application: the cutover rolls back."""


class AccessPhases:
    """Mixed into :class:`pgshift.migration.switchover.cutover.phases.CutoverRun`, whose settings, sessions, report
    and fence record it
    uses."""

    settings: CutoverSettings
    a: PrimaryHook
    c: TargetHook
    report: CutoverReport
    timeline: Timeline
    log: Logger
    fence_record: FenceRecord | None
    login_roles: list[str]  # the roles that could log in on A before the fence: LOGIN on C after the finalize
    _access_baseline: AccessSnapshot | None  # set by load_baseline

    def sync_access(self, roles: RolePlan | None = None) -> AccessSynced:
        """A is fenced, its catalog still: what changed on A since setup (roles, memberships, passwords, owners,
        grants, default privileges, FORCE ROW LEVEL SECURITY now) is applied to C. Every role stays NOLOGIN.
        ``roles``: the roles already brought over (a chain of several databases does the server's roles first, one
        database after the other, then every database's privileges at once)."""
        from pgshift.migration.access.sync import migrate_roles, sync_access

        if roles is None:
            roles = migrate_roles(self.a, self.c, self.settings.access)
        privileges = sync_access(self.a, self.c, self.settings.access, force_rls=True, baseline=self.load_baseline())
        fenced = self.fence_record.roles if self.fence_record else []
        self.login_roles = sorted((set(roles.login_on_a) | set(fenced)) - self._never_login())
        self._note_access(roles, privileges, applied=True)
        if privileges.not_synced:
            raise AccessAbort("C differs from A where pgshift does not sync (schema changes since setup): "
                              + "; ".join(privileges.not_synced))
        now = time.time()
        self.timeline.mark(Event.ACCESS_SYNCED, now)
        return AccessSynced(len(roles.changes), len(privileges.changes), now)

    def preview_access(self) -> AccessSynced:
        """The dry run's: what :meth:`sync_access` would change on C now, changing nothing."""
        from pgshift.migration.access.sync import migrate_roles, sync_access

        roles = migrate_roles(self.a, self.c, self.settings.access, apply=False)
        privileges = sync_access(self.a, self.c, self.settings.access, force_rls=True, apply=False,
                                    baseline=self.load_baseline())
        self.login_roles = sorted(set(roles.login_on_a) - self._never_login())
        self._note_access(roles, privileges, applied=False)
        now = time.time()
        return AccessSynced(len(roles.changes), len(privileges.changes), now)

    def refresh_materialized_views(self, plan: Plan) -> None:
        """Logical replication does not fill materialized views: refresh those in scope from C's data."""
        refreshed: list[ViewRefresh] = []
        for schema, name in plan.materialized_views:
            started = time.monotonic()
            self.c.refresh_materialized_view(schema, name)
            refreshed.append(ViewRefresh(f"{schema}.{name}", round(time.monotonic() - started, 3)))
            self.log.info("Refreshed materialized view %s.%s on C", schema, name)
        if refreshed:
            self.report.materialized_views_refreshed = refreshed

    def verify_access(self) -> AccessVerified:
        """The effective privileges of the application and login roles, and every owner, RLS flag, policy and
        default privilege: equal on A and C, or the cutover rolls back."""
        from pgshift.migration.access.sync import access_parity

        roles = sorted(set(self.settings.access.app_roles) | set(self.login_roles))
        parity = access_parity(self.a, self.c, self.settings.access, roles)
        self.report.privilege_parity = parity.as_report()
        if not parity.ok:
            raise AccessAbort("privileges on C differ from A's: " + "; ".join(parity.differences()))
        for role in roles:
            self.log.info("Privilege parity A = C for %s (%d privileges compared)", role, parity.checked.get(role, 0))
        now = time.time()
        self.timeline.mark(Event.ACCESS_VERIFIED, now)
        return AccessVerified(parity.checked, now)

    def open_login(self) -> LoginOpened:
        """After the point of no return and the finalize: the roles that could log in on A may log in to C. Not
        earlier: an application let in before could write on C while a rollback still gave it back to A."""
        from pgshift.migration.access.roles import set_login

        try:
            set_login(self.c, self.login_roles, True)
        except Exception as exc:
            roles = ", ".join(self.login_roles)
            raise AccessAbort(f"the cutover is finalized (C is the primary, A stays fenced) but LOGIN could not be "
                              f"given on C to {roles}: {type(exc).__name__}: {exc}; give it by hand: "
                              f"ALTER ROLE <role> LOGIN") from exc
        self.report.login_granted_on_c = list(self.login_roles)
        now = time.time()
        self.timeline.mark(Event.LOGIN_OPENED, now)
        return LoginOpened(tuple(self.login_roles), now)

    def prove_login(self, *, preview: bool = False) -> LoginProven:
        """Each app role, still NOLOGIN on C: its password accepted by C (through the connection named for it), and
        as it, one table read and one row written (rolled back). See
        :func:`pgshift.migration.access.sync.prove_app_role`.
        ``preview`` (the dry run, which syncs nothing): a role not on C yet is named, not failed - the cutover
        creates it first and proves it then."""
        from pgshift.migration.access.roles import read_roles
        from pgshift.migration.access.sync import prove_app_role

        access = self.settings.access
        missing = set(access.app_roles) - set(read_roles(self.c, access.app_roles)) if preview else set()
        proofs = []
        skipped: list[LoginProof] = []
        for role in access.app_roles:
            if role in missing:
                self.log.warning("Login proof of %s not run: the role is not on C yet; the cutover creates it (see the "
                                 "role changes) and proves it then", role)
                skipped.append(LoginProof(role, "not on C yet: the cutover creates it and proves it then", read=None,
                                          wrote=None, rows_written=0, seconds=0.0))
                continue
            conn_id = self.settings.app_role_connections.get(role)
            try:
                proof = prove_app_role(self.c, role, access.scope, conn_id)
            except Exception as exc:
                raise AccessAbort(f"app role {role} cannot work on C: {type(exc).__name__}: "
                                  f"{str(exc).strip()}") from exc
            self.log.info("Login proof on C: %s", proof.describe())
            proofs.append(proof)
        self.report.login_proof = [LoginProof(p.role, p.how, p.read, p.wrote, p.rows_written, p.seconds)
                                   for p in proofs] + skipped
        now = time.time()
        self.timeline.mark(Event.LOGIN_PROVEN, now)
        return LoginProven(tuple(p.role for p in proofs), now)

    def _never_login(self) -> set[str]:
        """Roles LOGIN is never given to on C: the migration's own, and those pgshift leaves alone there."""
        return set(self.settings.access.no_login) | set(self.settings.access.protected)

    def load_baseline(self) -> AccessSnapshot | None:
        """C's privileges as setup left them; without them (a chain set up by an older pgshift) every difference is
        synced. Kept per DAG, and per database for a chain of several (``settings.database``:
        :func:`pgshift.migration.access.sync.baseline_key`): one database's baseline never stands for another's,
        whose objects may have the same names. Read once: the cutover reads it before the fence, where a round
        trip to Airflow's API server costs no write downtime.
        """
        from pgshift.migration.access.sync import load_baseline

        if hasattr(self, "_access_baseline"):
            return self._access_baseline
        baseline = self._access_baseline = load_baseline(self.report.dag_id, self.settings.database)
        if baseline is None:
            self.log.warning("No baseline of C's privileges from setup: C is brought to A's privileges wherever they "
                             "differ, including changes made on C since setup")
        self.report.privilege_baseline = "setup" if baseline is not None else "none: every difference synced"
        return baseline

    def _note_access(self, roles: RolePlan, privileges: AccessPlan, *, applied: bool) -> None:
        for warning in roles.warnings:
            self.log.warning("Roles: %s", warning)
        verb = "" if applied else "would be "
        for role_change in roles.changes:
            self.log.info("Role %s on C %s%s", role_change.role, verb, role_change.change)
        for access_change in privileges.changes:
            self.log.info("Privileges on C %s: %s%s", access_change.object, verb, access_change.change)
        self.report.roles = RoleChanges(applied, [RoleChange(c.role, c.change) for c in roles.changes],
                                        list(roles.warnings))
        self.report.privileges = PrivilegeChanges(applied, [PrivilegeChange(c.object, c.change)
                                                            for c in privileges.changes], list(privileges.not_synced))

