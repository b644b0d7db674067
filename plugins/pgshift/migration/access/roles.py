"""Roles: the roles a migration needs are brought from A to C, with their password verifiers.

The runbook: find the roles in scope on A (:func:`roles_in_scope`), read them on A and on C (:func:`read_roles`),
plan what makes C like A (:func:`plan_roles`: create, then attributes and passwords, then memberships), apply the
plan in one transaction (:func:`apply_roles`), and give LOGIN only when the cutover is ready (:func:`set_login`).

A password verifier (SCRAM or md5) read from A's pg_authid is stored by ``ALTER ROLE … PASSWORD`` as given, so
the application's password keeps working on C although pgshift never knows it. Verifiers are secrets: they are
in no repr, no change text, no log line. Aurora grants neither SUPERUSER, REPLICATION nor BYPASSRLS: they are
dropped with a warning naming the role and the attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pgshift.migration.hooks.states import (
    _NOT_GRANTED,
    _SETTABLE,
    ATTRIBUTE_KEYWORDS,
    Membership,
    RoleSetting,
    RoleSpec,
)

if TYPE_CHECKING:  # the hooks import psycopg2: only where a role is read or changed
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope

__all__ = ["ATTRIBUTE_KEYWORDS", "Membership", "RoleChange", "RolePlan", "RoleSpec", "apply_roles", "plan_roles",
           "read_roles", "role_findings", "roles_in_scope", "set_login", "setting_differences"]

log = logging.getLogger(__name__)

_PREDEFINED_PREFIX = "pg_"

StepKind = Literal["create_role", "alter_role", "set_role_password", "set_role_connection_limit",
                   "set_role_setting", "reset_role_setting",
                   "set_role_valid_until", "grant_membership", "revoke_membership"]


@dataclass(frozen=True)
class RoleChange:
    """One change to a role on C, readable and never a secret."""

    role: str
    change: str


@dataclass(frozen=True)
class _Step:
    """One TargetHook call of a plan; its arguments may hold a verifier, so they are in no repr."""

    method: StepKind
    kwargs: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class RolePlan:
    """What :func:`apply_roles` will do on C, in order, and what it will not do and why."""

    changes: tuple[RoleChange, ...]
    warnings: tuple[str, ...]
    login_on_a: tuple[str, ...]
    steps: tuple[_Step, ...] = field(default=(), repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.steps


def roles_in_scope(a: PrimaryHook, scope: Scope, app_roles: Sequence[str], add: Sequence[str] = (),
                   exclude: Sequence[str] = ()) -> list[str]:
    """The roles A's migrated objects need on C, sorted (see ``roles_in_scope.sql``): owners, grantees of the
    objects' ACLs and default ACLs, policy roles, ``app_roles`` and ``add``, closed over memberships both
    ways, minus ``exclude``; never PUBLIC nor a predefined role. Names that are no role on A are left out."""
    return a.roles_in_scope(scope, [*app_roles, *add], exclude)


def read_roles(hook: MigrationHook, names: Sequence[str], *, groups: Sequence[str] = (),
               databases: Sequence[str] | None = None) -> dict[str, RoleSpec]:
    """The roles among ``names`` on this server, by name, with their memberships in roles among ``names`` and
    ``groups`` and in predefined roles (pass the groups of ``memberships_on_c`` when reading C), and their settings
    in every database and in each of ``databases`` (None: the hook's own).

    On A the verifiers come from pg_authid, which needs a superuser: otherwise this is an error telling the fix.
    On C (any other hook) a pg_authid that is not readable (Aurora) falls back to pg_roles, without verifiers
    (``verifier_known`` False)."""
    from psycopg2.errors import InsufficientPrivilege

    from pgshift.migration.hooks.primary import PrimaryHook

    wanted = sorted({*names, *groups})
    try:
        specs = hook.role_specs(names, wanted, verifiers=True, databases=databases)
    except InsufficientPrivilege as exc:
        if isinstance(hook, PrimaryHook):
            raise PermissionError(
                f"cannot read the password verifiers on A ({hook.describe()}): pg_authid is not readable "
                f"({str(exc).strip()}). pgshift copies each role's verifier so that its password keeps working on "
                "C: conn_a must be a superuser to read password verifiers.") from exc
        log.info("pg_authid is not readable on %s: roles read from pg_roles, password verifiers unknown",
                 hook.describe())
        specs = hook.role_specs(names, wanted, verifiers=False, databases=databases)
    return {s.name: s for s in specs}


def _is_predefined(role: str) -> bool:
    return role.startswith(_PREDEFINED_PREFIX)


def _options(m: Membership) -> str:
    admin = "ADMIN true, " if m.admin else ""
    return f"{admin}INHERIT {str(m.inherit).lower()}, SET {str(m.set).lower()}"


def _is_md5(spec: RoleSpec) -> bool:
    return bool(spec.verifier and spec.verifier.startswith("md5"))


def role_findings(on_a: Mapping[str, RoleSpec]) -> list[str]:
    """What cannot be migrated as it is on A, one text per role and attribute (the plan's warnings about A)."""
    found: list[str] = []
    for name in sorted(on_a):
        spec = on_a[name]
        found += [f"role {name}: {kw} is not granted on C (Aurora cannot)"
                  for attr, kw in _NOT_GRANTED.items() if getattr(spec, attr)]
        if _is_md5(spec):
            found.append(f"role {name}: its password verifier is md5; it is migrated as it is, but Aurora's "
                         "password_encryption is scram-sha-256 (set the password again on C to store SCRAM)")
    return found


class _Planner:
    """Collects a plan's changes and steps by phase, in the order apply must run them: roles created, then
    attributes and passwords, then memberships (their groups exist by then)."""

    CREATE, ALTER, MEMBERS = 0, 1, 2

    def __init__(self) -> None:
        self.changes: tuple[list[RoleChange], ...] = ([], [], [])
        self.steps: tuple[list[_Step], ...] = ([], [], [])
        self.warnings: list[str] = []

    def add(self, phase: int, role: str, change: str, method: StepKind | None = None, /, **kwargs: Any) -> None:
        """A change as the report shows it, and the hook call that makes it (None: nothing to run)."""
        self.changes[phase].append(RoleChange(role, change))
        if method is not None:
            self.step(phase, method, **kwargs)

    def step(self, phase: int, method: StepKind, /, **kwargs: Any) -> None:
        self.steps[phase].append(_Step(method, kwargs))

    def plan(self, login_on_a: tuple[str, ...]) -> RolePlan:
        return RolePlan(changes=tuple(c for phase in self.changes for c in phase), warnings=tuple(self.warnings),
                        login_on_a=login_on_a, steps=tuple(s for phase in self.steps for s in phase))


def plan_roles(on_a: Mapping[str, RoleSpec], on_c: Mapping[str, RoleSpec], *, protected: Mapping[str, str],
               memberships_on_c: Mapping[str, Sequence[str]] | None = None,
               login: Collection[str] = ()) -> RolePlan:
    """What brings C's roles to A's: missing roles created, existing ones changed only where they differ.

    Only roles in ``login`` get LOGIN on C; every other role in scope is NOLOGIN there, so nothing but
    replication writes to C before the cutover is ready. ``protected`` (role -> why) are roles pgshift uses on C:
    left alone, as are roles that are superusers on C. ``memberships_on_c`` (role -> groups) are grants wanted
    on C only (Aurora's ``rds_*`` roles): granted when missing, never revoked as extras."""
    extra_groups = memberships_on_c or {}
    p = _Planner()
    for name in sorted(on_a):
        a, c = on_a[name], on_c.get(name)
        if name in protected:
            p.warnings.append(f"role {name} left alone: {protected[name]}")
            continue
        if c is not None and c.superuser:
            p.warnings.append(f"role {name} left alone: it is a superuser on C")
            continue
        p.warnings += role_findings({name: a})
        _plan_attributes(p, a, c, login=name in login)
        _plan_settings(p, a, c)
        _plan_memberships(p, a, c, in_scope=on_a, extra=extra_groups.get(name, ()))
    login_on_a = tuple(sorted(n for n, s in on_a.items() if s.login))
    return p.plan(login_on_a)


def _plan_attributes(p: _Planner, a: RoleSpec, c: RoleSpec | None, *, login: bool) -> None:
    wanted = {attr: getattr(a, attr) for attr in _SETTABLE} | {"login": login}
    name = a.name
    if c is None:
        keywords = [kw if wanted[attr] else f"NO{kw}" for attr, kw in _SETTABLE.items()]
        keywords += [f"NO{kw}" for kw in _NOT_GRANTED.values()]
        shown = [k for k in keywords if k in ("LOGIN", "NOLOGIN", "CREATEDB", "CREATEROLE", "NOINHERIT")]
        p.add(p.CREATE, name, "created " + " ".join(shown), "create_role", role=name, attributes=keywords)
        for attr, kw in _NOT_GRANTED.items():
            if getattr(a, attr):
                p.add(p.CREATE, name, f"{kw} not granted (Aurora cannot)")
    else:
        for attr, kw in _SETTABLE.items():
            if wanted[attr] != getattr(c, attr):
                p.add(p.ALTER, name, f"{kw} {'granted' if wanted[attr] else 'revoked'}", "alter_role",
                      role=name, attributes=[kw if wanted[attr] else f"NO{kw}"])
        for attr, kw in _NOT_GRANTED.items():
            if getattr(c, attr) and not getattr(a, attr):
                p.add(p.ALTER, name, f"{kw} revoked", "alter_role", role=name, attributes=[f"NO{kw}"])
    if c is None or c.connection_limit != a.connection_limit:
        if c is not None or a.connection_limit != -1:
            p.add(p.ALTER, name, f"connection limit {a.connection_limit}", "set_role_connection_limit",
                  role=name, limit=a.connection_limit)
    if (c.valid_until if c else None) != a.valid_until:
        p.add(p.ALTER, name, f"valid until {a.valid_until or 'infinity'}", "set_role_valid_until",
              role=name, valid_until=a.valid_until)
    if c is None:
        differs = a.verifier is not None
    else:
        differs = not c.verifier_known or c.verifier != a.verifier
    if differs:
        text = "password verifier set" if a.verifier is not None else "password removed"
        p.add(p.ALTER, name, text, "set_role_password", role=name, verifier=a.verifier)


def _plan_settings(p: _Planner, a: RoleSpec, c: RoleSpec | None) -> None:
    """``ALTER ROLE … SET`` as on A, in every database and in each database read (values are not shown: a setting
    may hold something private)."""
    have, want = _settings(c.settings if c else ()), _settings(a.settings)
    for key, s in sorted(want.items()):
        if have.get(key) != s:
            p.add(p.ALTER, a.name, f"setting {s.name} set ({s.where})", "set_role_setting", role=a.name, setting=s)
    for key, s in sorted(have.items()):
        if key not in want:
            p.add(p.ALTER, a.name, f"setting {s.name} reset ({s.where})", "reset_role_setting", role=a.name,
                  setting=s)


def _settings(settings: Sequence[RoleSetting]) -> dict[tuple[str, str], RoleSetting]:
    """By (database, name), every database's first ("")."""
    return {(s.database or "", s.name): s for s in settings}


def setting_differences(on_a: Mapping[str, RoleSpec], on_c: Mapping[str, RoleSpec]) -> list[str]:
    """The roles' settings that differ between A and C (every database's and each database read), one line each,
    values not shown; a role missing on C is the role parity's to report, not this."""
    out = []
    for name in sorted(on_a):
        if name not in on_c:
            continue
        want, have = _settings(on_a[name].settings), _settings(on_c[name].settings)
        for key in sorted({*want, *have}):
            s = want.get(key) or have[key]
            if key not in have:
                out.append(f"role {name}: setting {s.name} {s.where} on A, not on C")
            elif key not in want:
                out.append(f"role {name}: setting {s.name} {s.where} on C, not on A")
            elif want[key] != have[key]:
                out.append(f"role {name}: setting {s.name} {s.where} differs on A and C")
    return out


def _plan_memberships(p: _Planner, a: RoleSpec, c: RoleSpec | None, *, in_scope: Mapping[str, RoleSpec],
                      extra: Sequence[str]) -> None:
    name = a.name
    have = {m.group: m for m in (c.member_of if c else ())}
    want = {m.group: m for m in a.member_of if m.group in in_scope or _is_predefined(m.group)}
    for group in extra:
        want.setdefault(group, Membership(group, admin=False, inherit=True, set=True))
    for group, m in sorted(want.items()):
        old = have.get(group)
        if old is None:
            p.add(p.MEMBERS, name, f"granted membership in {group} ({_options(m)})", "grant_membership",
                  group=group, member=name, admin=m.admin, inherit=m.inherit, set_=m.set)
        elif old != m and group not in extra:
            # Options are per grantor; replacing every grant is what makes the OR over grantors equal A's.
            _revoke_all(p, name, old)
            p.add(p.MEMBERS, name, f"changed membership in {group} ({_options(m)})", "grant_membership",
                  group=group, member=name, admin=m.admin, inherit=m.inherit, set_=m.set)
    for group, old in sorted(have.items()):
        if group not in want and group in in_scope:
            _revoke_all(p, name, old)
            p.add(p.MEMBERS, name, f"revoked membership in {group}")


def _revoke_all(p: _Planner, member: str, m: Membership) -> None:
    """Every grantor's grant of the membership (a plain REVOKE removes only the current user's)."""
    for grantor in m.grantors or (None,):
        p.step(p.MEMBERS, "revoke_membership", group=m.group, member=member, grantor=grantor)


def apply_roles(c: TargetHook, plan: RolePlan) -> None:
    """Run the plan on C in one transaction; each change and warning is logged (never a verifier).

    A step C refuses for want of privilege is a PermissionError naming the GRANT: a non-superuser with CREATEROLE
    (Aurora's master user) changes only the roles it holds ADMIN OPTION on, which PostgreSQL >= 16 gives it on the
    roles it creates, not on a role someone else made on C before the migration."""
    from psycopg2.errors import InsufficientPrivilege

    for warning in plan.warnings:
        log.warning("%s", warning)
    if plan.empty:
        log.info("roles on C: nothing to change")
        return
    me = c.current_role()
    with c.transaction():
        for step in plan.steps:
            try:
                getattr(c, step.method)(**step.kwargs)
            except InsufficientPrivilege as exc:
                role = step.kwargs.get("group") or step.kwargs.get("role")
                raise PermissionError(
                    f"C refused to change role {role} ({str(exc).strip()}); nothing was changed. pgshift's role {me} "
                    f"administers on C only the roles it holds ADMIN OPTION on (those it created): as a role that "
                    f"holds it (the role's creator, or Aurora's master user): GRANT {role} TO {me} WITH ADMIN "
                    "OPTION") from exc
    for change in plan.changes:
        log.info("role %s: %s", change.role, change.change)


def set_login(c: TargetHook, roles: Sequence[str], login: bool) -> None:
    """LOGIN (the cutover is ready) or NOLOGIN (before it, or after a rollback) for ``roles`` on C, one
    transaction."""
    with c.transaction():
        for role in roles:
            c.set_role_login(role, login)
    log.info("roles on C %s: %s", "may log in" if login else "may not log in", ", ".join(roles) or "none")
