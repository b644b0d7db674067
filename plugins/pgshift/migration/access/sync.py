"""What the application needs on C besides its rows: its roles, and the owners and privileges of what it uses.

The runbook, in three places:

- **setup** (:func:`migrate_roles`, task ``migrate_roles``): the roles in scope are created on C, with A's
  password verifiers, *NOLOGIN* - so that nothing but replication writes to C before the move; then the schema
  copy restores pg_dump's owners, grants and default privileges, and :func:`sync_access` corrects whatever
  pg_dump leaves different (``FORCE ROW LEVEL SECURITY`` stays off until the cutover: the subscription's apply
  worker writes as the table owner, which a forced policy would stop).
- **the cutover, after the fence** (A's catalog no longer changes): :func:`migrate_roles` and
  :func:`sync_access` again, for what changed on A since setup, now with ``FORCE ROW LEVEL SECURITY``; then
  the verify step proves parity (:func:`access_parity`) and each app role logs in and writes
  (:func:`prove_app_role`); the roles that could log in on A get LOGIN on C just before that proof, and a
  rollback takes it back.

Role and privilege logic is in :mod:`pgshift.migration.access.roles` and :mod:`pgshift.migration.access.privileges`;
this module only says which
roles and objects, and in what order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from pgshift.common.validation import identifier_problem
from pgshift.migration.scope import Scope

if TYPE_CHECKING:
    from pgshift.migration.access.privileges import AccessPlan, AccessSnapshot, ParityReport
    from pgshift.migration.access.roles import RolePlan
    from pgshift.migration.hooks.base import MigrationHook
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.states import RoleSpec
    from pgshift.migration.hooks.target import TargetHook


@dataclass(frozen=True)
class AccessSpec:
    """Which roles are migrated, and which roles on C pgshift must never touch."""

    scope: Scope
    app_roles: tuple[str, ...] = ()
    extra_roles: tuple[str, ...] = ()
    exclude_roles: tuple[str, ...] = ()
    memberships_on_c: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protected: Mapping[str, str] = field(default_factory=dict)  # role on C -> why pgshift leaves it alone
    # Roles the migration itself uses on A and B (replication, reading B): created on C when the migrated objects
    # name them (a grant to them), but never given LOGIN there: they are plumbing, not the application.
    no_login: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, *, schemas: Sequence[str] | None, tables: Sequence[str] | None,
                    app_roles: Sequence[str] | None = None, extra_roles: Sequence[str] | None = None,
                    exclude_roles: Sequence[str] | None = None,
                    memberships_on_c: Mapping[str, Sequence[str]] | None = None,
                    c_login: str | None = None, no_login: Sequence[str] = ()) -> AccessSpec:
        """From the DAG's params (rendered); ``c_login``: the role pgshift connects to C with; ``no_login``: the
        roles the migration uses on A and B."""
        return cls(scope=Scope.from_params(schemas, tables), app_roles=tuple(app_roles or ()),
                   extra_roles=tuple(extra_roles or ()), exclude_roles=tuple(exclude_roles or ()),
                   memberships_on_c={r: tuple(g) for r, g in (memberships_on_c or {}).items()},
                   protected={c_login: "the role pgshift connects to C with"} if c_login else {},
                   no_login=tuple(sorted(set(no_login) - set(app_roles or ()))))

    def problems(self) -> list[str]:
        """Bad role names in the params, before anything is read or changed."""
        out = []
        for what, names in (("app_roles", self.app_roles), ("extra_roles", self.extra_roles),
                            ("exclude_roles", self.exclude_roles), ("memberships_on_c", tuple(self.memberships_on_c))):
            out += [p for n in names if (p := identifier_problem(n, f"{what}: {n!r}"))]
        for role, groups in self.memberships_on_c.items():
            if isinstance(groups, str):
                out.append(f"memberships_on_c: {role!r} must map to a list of role names, got {groups!r}")
                continue
            out += [p for g in groups if (p := identifier_problem(g, f"memberships_on_c: {role!r} -> {g!r}"))]
        excluded_apps = sorted(set(self.app_roles) & set(self.exclude_roles))
        if excluded_apps:
            out.append(f"exclude_roles names application role(s) {', '.join(excluded_apps)}: the application could "
                       "not log in to C")
        return out


def roles_of_databases(databases: Sequence[PrimaryHook], spec: AccessSpec) -> list[str]:
    """The roles in scope in any of ``databases`` (hooks of A, one per database of the chain), sorted: roles are
    the server's, but which ones the migrated objects need is read in each database (owners, grantees, policies
    are each database's catalog). What :func:`migrate_roles` takes as ``names`` for a chain of several."""
    from pgshift.migration.access import roles

    return sorted({name for a in databases
                   for name in roles.roles_in_scope(a, spec.scope, spec.app_roles, spec.extra_roles,
                                                    spec.exclude_roles)})


def migrate_roles(a: PrimaryHook, c: TargetHook, spec: AccessSpec, *, login: Sequence[str] = (),
                  apply: bool = True, names: Sequence[str] | None = None,
                  databases: Sequence[str] | None = None) -> RolePlan:
    """Bring the roles in scope on C to A's (every one NOLOGIN but ``login``); returns what was done (``apply``
    False: what would be done, changing nothing).

    Roles are cluster-wide: a chain of several databases migrates them once, with ``names`` the union of every
    database's roles in scope (:func:`roles_of_databases`) and ``databases`` every database of the chain, whose
    ``ALTER ROLE … IN DATABASE`` settings are each brought to the same database on C; None: the roles in scope
    in ``a``'s database, and the settings in ``a``'s and ``c``'s own. A database C has not yet (setup creates it
    after the roles) gets its settings from the next sync: the cutover's, or a second setup."""
    from pgshift.migration.access import roles

    if names is None:
        names = roles.roles_in_scope(a, spec.scope, spec.app_roles, spec.extra_roles, spec.exclude_roles)
    groups = sorted({g for wanted in spec.memberships_on_c.values() for g in wanted})
    on_c_dbs = None if databases is None else [db for db in databases if c.database_exists(db)]

    def read(h: MigrationHook) -> dict[str, RoleSpec]:
        if h is c:
            return roles.read_roles(c, names, groups=groups, databases=on_c_dbs)
        return roles.read_roles(a, names, databases=on_c_dbs)  # a database C lacks: nothing to set there yet

    on_a, on_c = _both(read, a, c)
    plan = roles.plan_roles(on_a, on_c, protected=spec.protected, memberships_on_c=spec.memberships_on_c,
                            login=login)
    if apply:
        roles.apply_roles(c, plan)
        _act_as_owners(c, spec, [n for n, s in on_a.items() if not (on_c.get(n) and on_c[n].superuser)])
    return plan


def _act_as_owners(c: TargetHook, spec: AccessSpec, names: Sequence[str]) -> None:
    """Where pgshift's role on C is not a superuser (Aurora), it becomes a member of the migrated roles WITH SET
    TRUE, INHERIT TRUE: PostgreSQL 16 lets only a member with SET make a role an object's owner (the schema
    copy's ``ALTER … OWNER TO``) and the subscription's apply worker writes each table as its owner; INHERIT,
    because the cutover reads every table to verify it and sets the sequences the application's roles own. With
    INHERIT it also counts as each table's owner for row-level security, so it reads every row of a table whose
    policies are not forced; a table with ``FORCE ROW LEVEL SECURITY`` shows it only what the policies for the
    owner show (only BYPASSRLS, which Aurora's master user does not have, reads past them), so give such a table a
    policy for its owner (``USING (true)``) or the fallback's verify of it sees fewer rows on C than on A. The
    memberships are granted by pgshift's role itself: it holds ADMIN OPTION on the roles it created
    (:func:`pgshift.migration.access.roles.apply_roles` names the GRANT for any other)."""
    me = next(iter(spec.protected), None)
    if me is None or c.is_superuser():
        return
    with c.transaction():
        for role in names:
            if role not in spec.protected:
                c.grant_membership(role, me, admin=False, inherit=True, set_=True)


def sync_access(source: MigrationHook, c: TargetHook, spec: AccessSpec, *, force_rls: bool, apply: bool = True,
                baseline: AccessSnapshot | None = None) -> AccessPlan:
    """Make C's owners, grants, RLS flags and default privileges equal the source's (A, or B at setup); ``apply``
    False: only say what that would change.

    ``baseline``: C as setup left it (:func:`read_snapshot` after setup's sync). Then only what differs on the
    source from that is applied - what changed on A since, and what setup deferred (``FORCE ROW LEVEL
    SECURITY``); an object that differs on C from the baseline though A still equals it was changed on C behind
    pgshift's back, and is left for the verify step to refuse rather than silently overwritten."""
    from pgshift.migration.access import privileges

    on_source, on_c = _both(lambda h: privileges.read_access(h, spec.scope), source, c)
    wanted = on_source if baseline is None else changed_since(baseline, on_source, on_c)
    plan = privileges.plan_access(wanted, on_c, force_rls=force_rls)
    if apply:
        privileges.apply_access(c, plan)
    return plan


def read_snapshot(hook: MigrationHook, spec: AccessSpec) -> AccessSnapshot:
    """One server's owners, grants, RLS flags, policies and default privileges of the migrated objects."""
    from pgshift.migration.access import privileges

    return privileges.read_access(hook, spec.scope)


def changed_since(baseline: AccessSnapshot, now: AccessSnapshot, on_c: AccessSnapshot) -> AccessSnapshot:
    """``now`` where it differs from ``baseline``, and ``on_c`` everywhere else: what C should become if only what
    A has and setup did not leave on C is applied."""
    merged: dict[str, Any] = {f.name: getattr(now, f.name) for f in fields(now)}
    for name in COMPARED:
        then, current, c_side = getattr(baseline, name), getattr(now, name), getattr(on_c, name)
        out = dict(current)
        for key in set(current) | set(then):
            if current.get(key) == then.get(key):  # unchanged on A: C's own value, whatever it is
                if key in c_side:
                    out[key] = c_side[key]
                else:
                    out.pop(key, None)
        merged[name] = out
    return replace(now, **merged)


def drift(baseline: AccessSnapshot, now: AccessSnapshot, on_c: AccessSnapshot) -> list[str]:
    """What was changed on C behind pgshift's back since setup (A still as setup found it, C not as setup left
    it): the cutover would refuse each; readable lines."""
    out = []
    for name in COMPARED:
        then, current, c_side = getattr(baseline, name), getattr(now, name), getattr(on_c, name)
        for key in sorted(set(then) | set(c_side), key=repr):
            if current.get(key) == then.get(key) and c_side.get(key) != then.get(key):
                out.append(f"{name.replace('_', ' ')} of {_label(key)}")
    return out


def _label(key: Any) -> str:
    return " ".join(_label(k) for k in key) if isinstance(key, tuple) else str(key)


# What setup's baseline keeps of a snapshot: what is compared (the rest says where objects are, read anew).
COMPARED = ("owners", "acl", "column_acl", "rls", "policies", "default_acl")


# -- setup's baseline: C's owners and privileges as setup left them (no secret: names and privileges only)
def baseline_key(dag_id: str, database: str | None = None) -> str:
    """The Variable of setup's baseline: one per database of a chain of named databases (``database``, a part's
    :attr:`~pgshift.migration.config.ChainConfig.database`), with the database's name after the DAG's; None (a
    chain with an empty ``databases``): the key it always had."""
    return f"pgshift_access_baseline_{dag_id}" + (f"_{database}" if database else "")


def save_baseline(dag_id: str, snapshot: AccessSnapshot, database: str | None = None) -> None:
    """Kept in an Airflow Variable, beside the chain's record, for the cutover (runs inside a task only); privileges
    are each database's, so is the baseline (``database``: see :func:`baseline_key`)."""
    from airflow.sdk import Variable

    Variable.set(baseline_key(dag_id, database), _encode(snapshot), description="pgshift: C's owners and privileges "
                 "as setup left them (the cutover applies only what A has beyond them)", serialize_json=True)


def load_baseline(dag_id: str, database: str | None = None) -> AccessSnapshot | None:
    """Setup's baseline (of ``database``: see :func:`baseline_key`), or None (a chain set up before pgshift kept
    one, or the Variable was deleted)."""
    from airflow.sdk import Variable

    raw = Variable.get(baseline_key(dag_id, database), default=None)
    if raw is None:
        return None
    try:
        return _decode(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, TypeError, KeyError):
        return None


def _encode(snapshot: AccessSnapshot) -> dict[str, list[list[Any]]]:
    return {name: [[_plain(k), _plain(v)] for k, v in getattr(snapshot, name).items()] for name in COMPARED}


def _decode(data: Mapping[str, Any]) -> AccessSnapshot:
    from pgshift.migration.access.privileges import AccessSnapshot

    values: dict[str, Any] = {name: {_tuple(k): _value(v) for k, v in data[name]} for name in COMPARED}
    return AccessSnapshot(**values)


def _plain(value: Any) -> Any:
    """JSON-able: tuples as lists, sets as sorted lists (tagged, so they come back as sets)."""
    if isinstance(value, frozenset | set):
        return {"set": sorted((_plain(v) for v in value), key=json.dumps)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _tuple(value: Any) -> Any:
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def _value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"set"}:
        return frozenset(_tuple(v) for v in value["set"])
    return _tuple(value)


def access_parity(a: PrimaryHook, c: TargetHook, spec: AccessSpec, roles: Sequence[str], *,
                  role_settings: bool = True) -> ParityReport:
    """Effective privileges of ``roles`` and every owner, RLS flag, policy and default privilege, A against C; and
    (``role_settings``) the roles' settings (``ALTER ROLE … SET``, in every database and in ``a``'s and ``c``'s
    own: a chain of several databases checks each database with its own hooks), but for the roles pgshift leaves
    alone on C (its own, and C's superusers), whose settings it does not bring. The fallback passes False: it
    brings no role back to A, so a setting changed on C since would refuse a way back nothing can mend."""
    from pgshift.migration.access import privileges
    from pgshift.migration.access.roles import read_roles, setting_differences

    def read(h: MigrationHook) -> tuple[Any, Any, dict[str, RoleSpec]]:
        return (privileges.effective_privileges(h, spec.scope, roles), privileges.read_access(h, spec.scope),
                read_roles(h, [r for r in roles if r not in spec.protected]) if role_settings else {})

    (eff_a, snap_a, specs_a), (eff_c, snap_c, specs_c) = _both(read, a, c)
    report = privileges.privilege_parity(eff_a, eff_c, snap_a, snap_c)
    managed = {n: s for n, s in specs_a.items() if not (n in specs_c and specs_c[n].superuser)}
    settings = setting_differences(managed, specs_c)
    return replace(report, ok=report.ok and not settings, other=(*report.other, *settings)) if settings else report


@dataclass(frozen=True)
class AppRoleProof:
    """One application role on C, before it may log in there: its password accepted by C (when a connection is
    named for it), and as it (SET ROLE) one table read and one row rewritten, rolled back."""

    role: str
    how: str
    read: str | None  # the table read
    wrote: str | None  # "schema.table.column" written (rolled back); None: the role may write nothing on A
    rows_written: int
    seconds: float

    def describe(self) -> str:
        wrote = (f"wrote {self.wrote} ({self.rows_written} row, rolled back)" if self.wrote
                 else "no write privilege on A either: write not tried")
        return f"{self.role}: {self.how}; read {self.read or 'nothing (no SELECT)'}; {wrote} in {self.seconds:.3f} s"


def prove_app_role(c: TargetHook, role: str, scope: Scope, conn_id: str | None = None) -> AppRoleProof:
    """Prove on C, while ``role`` may not log in there yet, that the application will work: its own credentials
    (``conn_id``) are accepted by C's authentication, and as ``role`` (``SET ROLE`` in ``c``'s session) it reads
    one migrated table and rewrites one row of a table it may update, in a transaction that is rolled back."""
    import time

    started = time.monotonic()
    how = "SET ROLE from pgshift's session"
    if conn_id:
        how = f"{credentials_accepted(role, conn_id)}; {how}"
    probe = c.probe_app_role(role, scope)
    return AppRoleProof(role, how, probe.read_table, probe.write_target, probe.rows_written,
                        round(time.monotonic() - started, 3))


def credentials_accepted(role: str, conn_id: str) -> str:
    """Log in to C with the connection's own user and password, the role still NOLOGIN there. PostgreSQL checks
    the password first and LOGIN after it, so "role … is not permitted to log in" proves the password works on C
    without letting the role in (a wrong one is "password authentication failed"). Raises on anything else."""
    import psycopg2

    from pgshift.migration.hooks.target import TargetHook

    hook = TargetHook(conn_id, connect_timeout=5)
    if hook.connection.login != role:
        raise ValueError(f"connection {conn_id!r} logs in as {hook.connection.login!r}, not as app role {role!r}")
    try:
        with hook:
            hook.current_role()
    except psycopg2.OperationalError as exc:
        if "is not permitted to log in" in str(exc):
            return f"password accepted by C through connection {conn_id!r} (LOGIN comes with ready)"
        raise
    return f"logged in through connection {conn_id!r}"


def _both(read: Any, a: Any, c: Any) -> tuple[Any, Any]:
    """``read(a)`` and ``read(c)`` at the same time: two servers, two sessions, half the wait in the fence."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        on_a, on_c = pool.submit(read, a), pool.submit(read, c)
        return on_a.result(), on_c.result()
