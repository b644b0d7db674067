"""Owners, ACLs, row level security and default privileges of the migrated objects: read on A and on C, the
statements that make C equal A, and the proof that they are equal.

The runbook, as the cutover runs it::

    plan = plan_access(read_access(a, scope), read_access(c, scope), force_rls=True)
    apply_access(c, plan)                  # one transaction; plan.changes is what the report lists
    report = privilege_parity(effective_privileges(a, scope, roles), effective_privileges(c, scope, roles),
                              read_access(a, scope), read_access(c, scope))

Objects in scope ("migrated objects"): every schema, relation (table, partitioned table, view, materialized
view, sequence), routine and type (enum, domain, free-standing composite) of the migrated schemas (all
non-system schemas when every table is migrated); for chosen tables, those tables, the sequences they own and
the schemas holding them (owner and ACL only). A NULL ACL reads as ``acldefault()``: "never granted" and
"granted the default" compare equal. Extension members are left out (CREATE EXTENSION owns them).

Privileges are compared by (grantee, privilege, grantable), not by grantor: grants made by a superuser are
recorded as made by the owner, so grantors cannot be reproduced and do not matter for access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from pgshift.migration.access.privileges_diff import acl_steps, by_grantee, describe_items, remap_owner
from pgshift.migration.access.privileges_states import (
    DEFAULT_OBJTYPES,
    PRIVILEGES,
    AclItem,
    ObjectKey,
    ObjectName,
)

if TYPE_CHECKING:
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope

__all__ = ["AccessChange", "AccessPlan", "AccessSnapshot", "ParityReport", "PrivilegeSet", "apply_access",
           "effective_privileges", "plan_access", "privilege_parity", "read_access"]

Step = Callable[["TargetHook"], None]
DefaultKey = tuple[str, str, str]  # (role, schema or "", objtype)


@dataclass(frozen=True)
class AccessSnapshot:
    """One server's owners, ACLs, RLS and default privileges for the objects in scope."""

    owners: Mapping[ObjectKey, str]
    acl: Mapping[ObjectKey, frozenset[AclItem]]
    column_acl: Mapping[tuple[ObjectKey, str], frozenset[AclItem]]  # only columns with attacl
    rls: Mapping[ObjectKey, tuple[bool, bool]]  # (relrowsecurity, relforcerowsecurity), tables only
    policies: Mapping[ObjectKey, frozenset[str]]  # one canonical text per policy, tables only
    default_acl: Mapping[DefaultKey, frozenset[AclItem]]
    # Where each object is, for statements; a global default entry's acldefault(); the server's roles.
    names: Mapping[ObjectKey, ObjectName] = field(default_factory=dict, repr=False)
    owned_by: Mapping[ObjectKey, ObjectKey] = field(default_factory=dict, repr=False)
    default_builtin: Mapping[DefaultKey, frozenset[AclItem]] = field(default_factory=dict, repr=False)
    roles: frozenset[str] = field(default_factory=frozenset, repr=False)
    server_version: int = 0  # server_version_num; 0 when unknown

    def default_items(self, key: DefaultKey, other: AccessSnapshot) -> frozenset[AclItem]:
        """The default privileges in force for ``key``: the entry, else for a global key acldefault()
        (read from whichever server has the entry), else none."""
        if key in self.default_acl:
            return self.default_acl[key]
        return self.default_builtin.get(key, other.default_builtin.get(key, frozenset()))


def _items(raw: Iterable[Sequence[Any]] | None) -> frozenset[AclItem]:
    return frozenset((str(g), str(p), bool(o)) for g, p, o in raw or ())


def read_access(hook: MigrationHook, scope: Scope) -> AccessSnapshot:
    """Owners, ACLs, RLS flags, policies and default privileges of the migrated objects (three queries)."""
    rows = hook.access_objects(scope)
    defaults = hook.default_acl(scope)
    names = {(r.kind, r.identity): ObjectName(r.schema or "", r.name, r.args) for r in rows}
    by_identity = {r.identity: (r.kind, r.identity) for r in rows if r.kind == "table"}
    return AccessSnapshot(
        owners={(r.kind, r.identity): r.owner for r in rows},
        acl={(r.kind, r.identity): _items(r.acl) for r in rows},
        column_acl={((r.kind, r.identity), col): _items(items)
                    for r in rows for col, items in (r.column_acl or {}).items()},
        rls={(r.kind, r.identity): (bool(r.rls), bool(r.force_rls)) for r in rows if r.policies is not None},
        policies={(r.kind, r.identity): frozenset(r.policies) for r in rows if r.policies is not None},
        default_acl={(d.role, d.schema, d.objtype): _items(d.acl) for d in defaults},
        names=names,
        owned_by={(r.kind, r.identity): by_identity[r.owned_by] for r in rows
                  if r.owned_by and r.owned_by in by_identity},
        default_builtin={(d.role, d.schema, d.objtype): _items(d.builtin) for d in defaults if not d.schema},
        roles=frozenset(hook.role_names()),
        server_version=hook.server_version_num(),
    )


def _comparable(on_a: AccessSnapshot, on_c: AccessSnapshot) -> tuple[AccessSnapshot, AccessSnapshot]:
    """Both snapshots without the privileges one server's version does not have: MAINTAIN (PostgreSQL 17) is
    in a 17 owner's acldefault() and in GRANT ALL there, so a 16 -> 17 migration would otherwise differ on
    every table."""
    versions = [v for v in (on_a.server_version, on_c.server_version) if v]
    if not versions or min(versions) >= 170000:
        return on_a, on_c

    def strip(snap: AccessSnapshot) -> AccessSnapshot:
        def keep(items: frozenset[AclItem]) -> frozenset[AclItem]:
            return frozenset(i for i in items if i[1] != "MAINTAIN")

        return replace(snap, acl={k: keep(v) for k, v in snap.acl.items()},
                       default_acl={k: keep(v) for k, v in snap.default_acl.items()},
                       default_builtin={k: keep(v) for k, v in snap.default_builtin.items()})

    return strip(on_a), strip(on_c)


@dataclass(frozen=True)
class AccessChange:
    """One statement of a plan, readable: ``table public.orders`` / ``GRANT SELECT TO reader``."""

    object: str
    change: str


@dataclass(frozen=True)
class AccessPlan:
    """What makes C's owners, ACLs, RLS flags and default privileges equal A's, and what pgshift leaves."""

    changes: tuple[AccessChange, ...]
    not_synced: tuple[str, ...]  # differences pgshift does not apply (policies = DDL; objects or roles missing)
    _steps: tuple[Step, ...] = field(default=(), repr=False, compare=False)


def _label(key: ObjectKey) -> str:
    return f"{key[0]} {key[1]}"


def _default_label(key: DefaultKey) -> str:
    role, schema, objtype = key
    return f"default privileges of {role}" + (f" in schema {schema}" if schema else "") + f" on {objtype}"


class _Planner:
    """Collects readable changes and their statements, and what cannot be applied."""

    def __init__(self, on_c: AccessSnapshot) -> None:
        self.on_c = on_c
        self.changes: list[AccessChange] = []
        self.steps: list[Step] = []
        self.not_synced: list[str] = []

    def add(self, obj: str, change: str, step: Step | None) -> None:
        self.changes.append(AccessChange(obj, change))
        if step is not None:
            self.steps.append(step)

    def roles_missing(self, obj: str, roles: Iterable[str]) -> bool:
        """Whether C lacks one of ``roles`` (then the statement is reported, not planned)."""
        if not self.on_c.roles:  # a snapshot made without its server's roles: nothing to check against
            return False
        missing = sorted({r for r in roles if r != "PUBLIC" and r not in self.on_c.roles})
        for role in missing:
            self.not_synced.append(f"{obj}: role {role} does not exist on C")
        return bool(missing)

    def acl(self, obj: str, a: frozenset[AclItem], c: frozenset[AclItem],
            make: Callable[[str, tuple[str, ...], str, bool], Step]) -> None:
        """Revokes then grants, per grantee, that turn ``c`` into ``a``. ``make(verb, privileges, grantee,
        option)`` builds the statement: verb GRANT or REVOKE, option = WITH GRANT OPTION / GRANT OPTION FOR."""
        unknown = sorted({p for _, p, _ in a | c} - set(PRIVILEGES))
        if unknown:
            self.not_synced.append(f"{obj}: privileges pgshift does not know: {', '.join(unknown)}")
            return
        for verb, privileges, grantee, option, text in acl_steps(a, c):
            if verb == "GRANT" and self.roles_missing(obj, [grantee]):
                continue
            self.add(obj, text, make(verb, privileges, grantee, option))


def plan_access(on_a: AccessSnapshot, on_c: AccessSnapshot, *, force_rls: bool = True) -> AccessPlan:
    """Statements that make C's owners, ACLs (object and column), RLS flags and default privileges equal A's,
    for the objects present on both.

    ``force_rls=False`` leaves FORCE ROW LEVEL SECURITY off on C (and sets a forced table NO FORCE): the
    subscription's apply worker writes as the table owner, which forced RLS would hold to the policies.
    """
    on_a, on_c = _comparable(on_a, on_c)
    plan = _Planner(on_c)
    owner_changes = {key: a_owner for key, a_owner in on_a.owners.items()
                     if key in on_c.owners and on_c.owners[key] != a_owner}
    for key in sorted(on_a.owners):
        if key in on_c.owners:
            _plan_object(plan, key, on_a, on_c, owner_changes, force_rls)
        else:
            plan.not_synced.append(f"{_label(key)}: on A, missing on C")
    for dkey in sorted({*on_a.default_acl, *on_c.default_acl}):
        _plan_default(plan, dkey, on_a.default_items(dkey, on_c), on_c.default_items(dkey, on_a))
    return AccessPlan(tuple(plan.changes), tuple(plan.not_synced), tuple(plan.steps))


def _plan_object(plan: _Planner, key: ObjectKey, on_a: AccessSnapshot, on_c: AccessSnapshot,
                 owner_changes: Mapping[ObjectKey, str], force_rls: bool) -> None:
    """Owner, then ACL, column ACLs, RLS flags of one object on both servers; differing policies reported."""
    obj, kind, name = _label(key), key[0], on_c.names.get(key) or on_a.names[key]
    a_owner, c_owner = on_a.owners[key], on_c.owners[key]
    if a_owner != c_owner:
        _plan_owner(plan, key, name, a_owner, c_owner, on_a.owned_by.get(key), owner_changes)

    def make(verb: str, privileges: tuple[str, ...], grantee: str, option: bool, column: str | None = None) -> Step:
        if verb == "GRANT":
            return lambda c: c.grant_privileges(kind, name, privileges, grantee, grantable=option, column=column)
        return lambda c: c.revoke_privileges(kind, name, privileges, grantee, grant_option_only=option,
                                             column=column)

    # ALTER ... OWNER hands the old owner's ACL items to the new owner: compare C's ACL as it will be then.
    plan.acl(obj, on_a.acl[key], remap_owner(on_c.acl[key], c_owner, a_owner), make)
    for column in sorted({col for k, col in [*on_a.column_acl, *on_c.column_acl] if k == key}):
        plan.acl(f"column {key[1]}.{column}", on_a.column_acl.get((key, column), frozenset()),
                 remap_owner(on_c.column_acl.get((key, column), frozenset()), c_owner, a_owner),
                 partial(make, column=column))
    if key in on_a.rls and key in on_c.rls:
        _plan_rls(plan, obj, name, on_a.rls[key], on_c.rls[key], force_rls)
    for side, mine, theirs in (("A", on_a, on_c), ("C", on_c, on_a)):
        for policy in sorted(mine.policies.get(key, frozenset()) - theirs.policies.get(key, frozenset())):
            plan.not_synced.append(f"{obj}: policy on {side} only: {policy}")


def _plan_owner(plan: _Planner, key: ObjectKey, name: ObjectName, a_owner: str, c_owner: str,
                owning_table: ObjectKey | None, owner_changes: Mapping[ObjectKey, str]) -> None:
    obj = _label(key)
    if plan.roles_missing(obj, [a_owner]):
        return
    if owning_table is not None:
        # An owned sequence follows its table's ALTER ... OWNER and refuses its own.
        if owner_changes.get(owning_table) == a_owner:
            plan.add(obj, f"owner {c_owner} -> {a_owner} (with {_label(owning_table)})", None)
        else:
            plan.not_synced.append(f"{obj}: owner {a_owner} on A, {c_owner} on C, owned by {_label(owning_table)}")
        return
    kind = key[0]
    plan.add(obj, f"owner {c_owner} -> {a_owner}", lambda c: c.set_owner(kind, name, a_owner))


def _plan_rls(plan: _Planner, obj: str, name: ObjectName, a: tuple[bool, bool], c: tuple[bool, bool],
              force_rls: bool) -> None:
    enabled, forced = a[0], a[1] and force_rls
    for action, wanted, now in (("ENABLE" if enabled else "DISABLE", enabled, c[0]),
                                ("FORCE" if forced else "NO FORCE", forced, c[1])):
        if wanted != now:
            plan.add(obj, f"{action} ROW LEVEL SECURITY", _rls_step(name, action))


def _rls_step(name: ObjectName, action: str) -> Step:
    return lambda c: c.set_row_level_security(name, action)


def _plan_default(plan: _Planner, key: DefaultKey, a: frozenset[AclItem], c: frozenset[AclItem]) -> None:
    role, schema, objtype = key
    obj = _default_label(key)
    if objtype not in DEFAULT_OBJTYPES:
        plan.not_synced.append(f"{obj}: object type pgshift does not know")
        return
    if a != c and plan.roles_missing(obj, [role]):
        return

    def make(verb: str, privileges: tuple[str, ...], grantee: str, option: bool) -> Step:
        return lambda t: t.alter_default_privileges(role, schema, objtype, privileges, grantee,
                                                    revoke=verb == "REVOKE", grant_option=option)

    plan.acl(obj, a, c, make)


def apply_access(c: TargetHook, plan: AccessPlan) -> None:
    """Run a plan's statements on C in one transaction (all or none)."""
    if not plan._steps:
        return
    with c.transaction():
        for step in plan._steps:
            step(c)


class PrivilegeSet(frozenset[str]):
    """A role's effective privileges on one server (lines ``<kind> <identity> <PRIVILEGE>``), with how many
    (object, privilege) pairs were checked and whether the role exists there."""

    checked: int
    exists: bool

    def __new__(cls, lines: Iterable[str] = (), *, checked: int = 0, exists: bool = True) -> PrivilegeSet:
        made = super().__new__(cls, lines)
        made.checked, made.exists = checked, exists
        return made


def effective_privileges(hook: MigrationHook, scope: Scope, roles: Sequence[str]) -> Mapping[str, frozenset[str]]:
    """role -> the privileges it holds on the migrated objects (has_*_privilege, one query), e.g.
    ``table public.orders SELECT``, ``column public.orders.note UPDATE`` (only where the column's answer
    differs from its table's), ``schema public USAGE``. A role missing on the server holds none."""
    found = {r.role: PrivilegeSet(r.held, checked=r.checked) for r in hook.effective_privileges(scope, roles)}
    return {role: found[role] if role in found else PrivilegeSet(exists=False) for role in roles}


@dataclass(frozen=True)
class ParityReport:
    """Whether C grants what A grants: per role, owners, and RLS/policies/default privileges/other ACLs."""

    ok: bool
    per_role: Mapping[str, tuple[str, ...]]  # role -> differences ("table public.orders: SELECT on A, not on C")
    owners: tuple[str, ...]  # "table public.orders: owner app on A, postgres on C"
    other: tuple[str, ...]  # missing objects, RLS flags, policies, default privileges, other grantees' ACLs
    checked: Mapping[str, int]  # role -> (object, privilege) pairs compared

    def differences(self) -> list[str]:
        """Every difference, one line each: per role, then owners, then the rest."""
        return [*(f"{r}: {d}" for r, diffs in self.per_role.items() for d in diffs), *self.owners, *self.other]

    def as_report(self) -> dict[str, Any]:
        """The report's ``privilege_parity`` section."""
        return {"ok": self.ok, "checked": dict(self.checked),
                "per_role": {r: list(d) for r, d in self.per_role.items()}, "owners": list(self.owners),
                "other": list(self.other)}


def _role_differences(role: str, a: frozenset[str], c: frozenset[str]) -> tuple[str, ...]:
    on_a, on_c = getattr(a, "exists", True), getattr(c, "exists", True)
    lines = [f"role {role} missing on {side}" for side, exists in (("A", on_a), ("C", on_c)) if not exists]
    for line, here, there in sorted([(x, "A", "C") for x in a - c] + [(x, "C", "A") for x in c - a]):
        obj, _, privilege = line.rpartition(" ")
        lines.append(f"{obj}: {privilege} on {here}, not on {there}")
    return tuple(lines)


def privilege_parity(on_a_eff: Mapping[str, frozenset[str]], on_c_eff: Mapping[str, frozenset[str]],
                     on_a: AccessSnapshot, on_c: AccessSnapshot) -> ParityReport:
    """Compare effective privileges per role, owners, RLS flags, policies, default privileges, and the ACL
    items of grantees whose effective privileges were not compared (grant options included)."""
    on_a, on_c = _comparable(on_a, on_c)
    per_role = {role: _role_differences(role, on_a_eff.get(role, frozenset()), on_c_eff.get(role, frozenset()))
                for role in sorted({*on_a_eff, *on_c_eff})}
    checked = {role: max(getattr(on_a_eff.get(role), "checked", 0), getattr(on_c_eff.get(role), "checked", 0))
               for role in per_role}
    owners, other = [], []
    for key in sorted(on_a.owners):
        if key not in on_c.owners:
            other.append(f"{_label(key)}: on A, missing on C")
            continue
        a_owner, c_owner = on_a.owners[key], on_c.owners[key]
        if a_owner != c_owner:
            owners.append(f"{_label(key)}: owner {a_owner} on A, {c_owner} on C")
        other += _acl_differences(_label(key), on_a.acl[key], remap_owner(on_c.acl[key], c_owner, a_owner),
                                  set(per_role))
        if on_a.rls.get(key) != on_c.rls.get(key) and key in on_a.rls and key in on_c.rls:
            (a_on, a_force), (c_on, c_force) = on_a.rls[key], on_c.rls[key]
            other.append(f"{_label(key)}: row level security {_flags(a_on, a_force)} on A, "
                         f"{_flags(c_on, c_force)} on C")
        for side, mine, theirs in (("A", on_a, on_c), ("C", on_c, on_a)):
            for policy in sorted(mine.policies.get(key, frozenset()) - theirs.policies.get(key, frozenset())):
                other.append(f"{_label(key)}: policy on {side} only: {policy}")
    for (key, column) in sorted({*on_a.column_acl, *on_c.column_acl}):
        if key in on_a.owners and key in on_c.owners:
            other += _acl_differences(
                f"column {key[1]}.{column}", on_a.column_acl.get((key, column), frozenset()),
                remap_owner(on_c.column_acl.get((key, column), frozenset()), on_c.owners[key], on_a.owners[key]),
                set(per_role))
    for dkey in sorted({*on_a.default_acl, *on_c.default_acl}):
        other += _acl_differences(_default_label(dkey), on_a.default_items(dkey, on_c),
                                  on_c.default_items(dkey, on_a), set())
    ok = not owners and not other and not any(per_role.values())
    return ParityReport(ok, per_role, tuple(owners), tuple(other), checked)


def _flags(enabled: bool, forced: bool) -> str:
    return ("enabled" if enabled else "disabled") + (", forced" if forced else "")


def _acl_differences(obj: str, a: frozenset[AclItem], c: frozenset[AclItem], skip: set[str]) -> list[str]:
    """ACL items on one side only, for grantees not in ``skip`` (those are compared by effective privileges),
    except grant options, which has_*_privilege does not check."""
    a_by, c_by = by_grantee(a), by_grantee(c)
    out = []
    for grantee in sorted({*a_by, *c_by}):
        mine, theirs = a_by.get(grantee, {}), c_by.get(grantee, {})
        differ = (mine != theirs if grantee not in skip
                  else {p for p, o in mine.items() if o} != {p for p, o in theirs.items() if o})
        if differ:
            out.append(f"{obj}: {describe_items(grantee, mine)} on A, {describe_items(grantee, theirs)} on C")
    return out
