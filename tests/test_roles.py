"""Roles migrated from A to C on real servers: the roles in scope, a full sync with password verifiers (the
original password logs in to C), idempotence, changes made on A, extras on C, what Aurora cannot have, and no
verifier anywhere in a plan or a log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from pgcluster import DATABASE, LocalClusters

from pgshift.migration.access.roles import (
    RoleChange,
    RolePlan,
    apply_roles,
    plan_roles,
    read_roles,
    roles_in_scope,
    set_login,
)
from pgshift.migration.hooks.primary import PrimaryHook
from pgshift.migration.hooks.target import TargetHook
from pgshift.migration.scope import Scope

PROTECTED = {"postgres": "pgshift's connection to C"}


@dataclass(frozen=True)
class Names:
    """This module's roles and schema on A, unique to the run (roles are shared by every test on the servers)."""

    tag: str

    def __getattr__(self, kind: str) -> str:
        if kind.startswith("_"):
            raise AttributeError(kind)
        return f"rl_{self.tag}_{kind}"


@pytest.fixture(scope="module")
def n(clusters: LocalClusters) -> Iterator[Names]:
    """On A: schema ``n.schema`` owned by ``n.owner`` with a table; ``n.col`` has a column grant, ``n.readers``
    USAGE on the schema and ``n.member`` as member, ``n.pol`` a policy, ``n.deflt`` default privileges,
    ``n.seq`` USAGE on the table's sequence; ``n.fn`` owns a function and ``n.typ`` a type in the schema;
    ``n.addme`` and ``n.unrelated`` are referenced by nothing."""
    names = Names(uuid.uuid4().hex[:8])
    n = names
    statements = [
        f"CREATE ROLE {n.owner} NOLOGIN",
        f"CREATE SCHEMA {n.schema} AUTHORIZATION {n.owner}",
        f"CREATE TABLE {n.schema}.t (id serial PRIMARY KEY, secret text, v int)",
        f"ALTER TABLE {n.schema}.t OWNER TO {n.owner}",
        f"CREATE ROLE {n.col} LOGIN PASSWORD 'col-pw-1'",
        f"GRANT SELECT (id) ON {n.schema}.t TO {n.col}",
        f"CREATE ROLE {n.readers} NOLOGIN",
        f"GRANT USAGE ON SCHEMA {n.schema} TO {n.readers}",
        f"CREATE ROLE {n.member} LOGIN PASSWORD 'member-pw-1' CONNECTION LIMIT 7",
        f"GRANT {n.readers} TO {n.member} WITH INHERIT TRUE, SET FALSE",
        f"CREATE ROLE {n.pol} NOLOGIN",
        f"ALTER TABLE {n.schema}.t ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY p ON {n.schema}.t TO {n.pol} USING (v > 0)",
        f"CREATE ROLE {n.deflt} NOLOGIN",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {n.owner} IN SCHEMA {n.schema} GRANT SELECT ON TABLES TO {n.deflt}",
        f"CREATE ROLE {n.fn} NOLOGIN",
        f"CREATE FUNCTION {n.schema}.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        f"ALTER FUNCTION {n.schema}.f() OWNER TO {n.fn}",
        f"CREATE ROLE {n.typ} NOLOGIN",
        f"CREATE TYPE {n.schema}.mood AS ENUM ('ok')",
        f"ALTER TYPE {n.schema}.mood OWNER TO {n.typ}",
        f"CREATE ROLE {n.seq} NOLOGIN",
        f"GRANT USAGE ON SEQUENCE {n.schema}.t_id_seq TO {n.seq}",
        f"CREATE ROLE {n.addme} NOLOGIN",
        f"CREATE ROLE {n.unrelated} NOLOGIN",
    ]
    for statement in statements:
        clusters.sql(clusters.a, statement)
    yield names
    clusters.sql(clusters.a, f"DROP SCHEMA IF EXISTS {n.schema} CASCADE")
    for node in (clusters.a, clusters.c):
        roles = [r for (r,) in clusters.sql(node, "SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                            (f"rl\\_{n.tag}\\_%",))]
        for role in roles:
            clusters.sql(node, f"DROP OWNED BY {role}")
        for role in roles:
            clusters.sql(node, f"DROP ROLE {role}")


@pytest.fixture
def a() -> Iterator[PrimaryHook]:
    with PrimaryHook("pgshift_a") as hook:
        yield hook


@pytest.fixture
def c() -> Iterator[TargetHook]:
    with TargetHook("pgshift_c") as hook:
        yield hook


def _in_scope(n: Names, whole_schema: bool = True) -> list[str]:
    table_roles = [n.owner, n.col, n.readers, n.member, n.pol, n.deflt, n.seq]
    return sorted(table_roles + ([n.fn, n.typ] if whole_schema else []))


def _sync(a: PrimaryHook, c: TargetHook, names: list[str], login: tuple[str, ...] = (),
          protected: dict[str, str] = PROTECTED) -> RolePlan:
    plan = _plan(a, c, names, login, protected)
    apply_roles(c, plan)
    return plan


def _plan(a: PrimaryHook, c: TargetHook, names: list[str], login: tuple[str, ...] = (),
          protected: dict[str, str] = PROTECTED) -> RolePlan:
    return plan_roles(read_roles(a, names), read_roles(c, names), protected=protected, login=login)


def _beyond_unknown_verifiers(plan: RolePlan | tuple[RoleChange, ...], c: TargetHook) -> tuple[RoleChange, ...]:
    """A plan's changes, less the passwords set again because C's verifiers cannot be read (pg_authid needs a
    superuser: an Aurora-shaped C), which a plan repeats by design (see test_verifiers_need_a_superuser_…)."""
    changes = plan if isinstance(plan, tuple) else plan.changes
    if c.is_superuser():
        return changes
    return tuple(ch for ch in changes if ch.change not in ("password verifier set", "password removed"))


def _role_on(clusters: LocalClusters, node: str, role: str) -> tuple | None:
    rows = clusters.sql(getattr(clusters, node),
                        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolconnlimit, rolpassword FROM pg_authid "
                        "WHERE rolname = %s", (role,))
    return rows[0] if rows else None


def _memberships_on_c(clusters: LocalClusters, member: str) -> list[tuple]:
    return clusters.sql(clusters.c, "SELECT g.rolname, m.admin_option, m.inherit_option, m.set_option "
                                    "FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                                    "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s ORDER BY 1", (member,))


def _connect_c(clusters: LocalClusters, user: str, password: str) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=clusters.c.port, dbname=DATABASE, user=user, password=password,
                            connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (user,)
    finally:
        conn.close()


def test_roles_in_scope_finds_owners_grantees_groups_members_policy_and_default_acl_roles(
        n: Names, a: PrimaryHook) -> None:
    scope = Scope(schemas=(n.schema,))
    assert roles_in_scope(a, scope, app_roles=[]) == _in_scope(n)
    assert roles_in_scope(a, scope, app_roles=[n.addme], add=["no_such_role"], exclude=[n.pol, n.deflt]) == sorted(
        [*set(_in_scope(n)) - {n.pol, n.deflt}, n.addme])
    # Chosen tables: the table's and its sequence's owner, grantees and policy roles, and its schema's (the
    # default ACLs too); not the owners of the schema's functions and types.
    assert roles_in_scope(a, Scope(tables=((n.schema, "t"),)), app_roles=[]) == _in_scope(n, whole_schema=False)
    # An app role brings its group (and the group's other members), nothing else of this module's.
    found = roles_in_scope(a, Scope(tables=(("public", "no_such_table"),)), app_roles=[n.member])
    assert [r for r in found if r.startswith(f"rl_{n.tag}_")] == sorted([n.readers, n.member])


def test_full_sync_creates_roles_nologin_with_verifiers_and_the_original_password_logs_in(
        n: Names, a: PrimaryHook, c: TargetHook, clusters: LocalClusters, caplog: pytest.LogCaptureFixture) -> None:
    names = roles_in_scope(a, Scope(schemas=(n.schema,)), app_roles=[])
    on_a = read_roles(a, names)
    with caplog.at_level(logging.INFO, logger="pgshift"):
        plan = _sync(a, c, names)

    assert plan.login_on_a == tuple(sorted([n.col, n.member]))
    assert RoleChange(n.member, "created NOLOGIN") in plan.changes
    assert RoleChange(n.member, "connection limit 7") in plan.changes
    assert RoleChange(n.member, "granted membership in " + n.readers + " (INHERIT true, SET false)") in plan.changes
    created = [ch.role for ch in plan.changes if ch.change.startswith("created")]
    assert sorted(created) == names
    first_membership = min(i for i, ch in enumerate(plan.changes) if "membership" in ch.change)
    assert all(not ch.change.startswith("created") for ch in plan.changes[first_membership:])
    for role in names:
        login, superuser, _, _, verifier = _role_on(clusters, "c", role)
        assert (login, superuser) == (False, False), role
        assert verifier == on_a[role].verifier, role
    assert _memberships_on_c(clusters, n.member) == [(n.readers, False, True, False)]
    assert _role_on(clusters, "c", n.member)[3] == 7

    # No verifier in the plan's repr, its texts or the log.
    verifiers = [s.verifier for s in on_a.values() if s.verifier]
    assert len(verifiers) == 2
    shown = [repr(plan), repr(on_a), caplog.text, *(ch.change for ch in plan.changes), *plan.warnings]
    assert not [v for v in verifiers for text in shown if v in text]
    assert f"role {n.member}: created NOLOGIN" in caplog.text

    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        _connect_c(clusters, n.member, "member-pw-1")
    set_login(c, [n.member], True)
    _connect_c(clusters, n.member, "member-pw-1")

    # Idempotent: nothing differs any more (the role given LOGIN keeps it when the plan says so).
    again = _plan(a, c, names, login=(n.member,))
    assert _beyond_unknown_verifiers(again, c) == ()
    assert len(again.steps) == len(again.changes)
    relogin = _plan(a, c, names)
    assert _beyond_unknown_verifiers(relogin, c) == (RoleChange(n.member, "LOGIN revoked"),)


def test_changes_on_a_give_exactly_those_changes_and_an_extra_membership_on_c_is_revoked(
        n: Names, a: PrimaryHook, c: TargetHook, clusters: LocalClusters) -> None:
    names = roles_in_scope(a, Scope(schemas=(n.schema,)), app_roles=[])
    _sync(a, c, names)
    clusters.sql(clusters.a, f"GRANT {n.readers} TO {n.col}")
    clusters.sql(clusters.a, f"ALTER ROLE {n.col} CREATEDB PASSWORD 'col-pw-2'")
    clusters.sql(clusters.c, f"GRANT {n.readers} TO {n.pol}", user="postgres")  # a DBA on C (Aurora: the master user)

    plan = _sync(a, c, names, login=(n.col,))
    assert RoleChange(n.col, "password verifier set") in plan.changes
    assert _beyond_unknown_verifiers(plan, c) == _beyond_unknown_verifiers((
        RoleChange(n.col, "LOGIN granted"),
        RoleChange(n.col, "CREATEDB granted"),
        RoleChange(n.col, "password verifier set"),
        RoleChange(n.col, f"granted membership in {n.readers} (INHERIT true, SET true)"),
        RoleChange(n.pol, f"revoked membership in {n.readers}"),
    ), c)
    assert _memberships_on_c(clusters, n.pol) == []
    assert _memberships_on_c(clusters, n.col) == [(n.readers, False, True, True)]
    assert _role_on(clusters, "c", n.col)[2] is True
    _connect_c(clusters, n.col, "col-pw-2")
    assert _beyond_unknown_verifiers(_plan(a, c, names, login=(n.col,)), c) == ()


def test_changed_membership_options_replace_the_grant(n: Names, a: PrimaryHook, c: TargetHook,
                                                      clusters: LocalClusters) -> None:
    names = [n.readers, n.member]
    _sync(a, c, names)
    clusters.sql(clusters.a, f"GRANT {n.readers} TO {n.member} WITH SET TRUE")
    plan = _sync(a, c, names)
    assert _beyond_unknown_verifiers(plan, c) == (
        RoleChange(n.member, f"changed membership in {n.readers} (INHERIT true, SET true)"),)
    assert _memberships_on_c(clusters, n.member) == [(n.readers, False, True, True)]


def test_superuser_on_a_is_a_warning_and_no_superuser_on_c(n: Names, a: PrimaryHook, c: TargetHook,
                                                          clusters: LocalClusters) -> None:
    clusters.sql(clusters.a, f"CREATE ROLE {n.su} SUPERUSER BYPASSRLS NOLOGIN")
    plan = _sync(a, c, [n.su])
    assert f"role {n.su}: SUPERUSER is not granted on C (Aurora cannot)" in plan.warnings
    assert f"role {n.su}: BYPASSRLS is not granted on C (Aurora cannot)" in plan.warnings
    assert RoleChange(n.su, "SUPERUSER not granted (Aurora cannot)") in plan.changes
    assert _role_on(clusters, "c", n.su)[1] is False
    assert clusters.sql(clusters.c, "SELECT rolbypassrls FROM pg_roles WHERE rolname = %s", (n.su,)) == [(False,)]
    assert _beyond_unknown_verifiers(_plan(a, c, [n.su]), c) == ()


def test_an_md5_verifier_is_migrated_with_a_warning(n: Names, a: PrimaryHook, c: TargetHook,
                                                   clusters: LocalClusters) -> None:
    clusters.sql(clusters.a, f"SET password_encryption = 'md5'; CREATE ROLE {n.md5} LOGIN PASSWORD 'md5-pw'")
    on_a = _role_on(clusters, "a", n.md5)[4]
    assert on_a.startswith("md5")
    plan = _sync(a, c, [n.md5])
    assert [w for w in plan.warnings if "md5" in w and "scram-sha-256" in w and n.md5 in w]
    assert _role_on(clusters, "c", n.md5)[4] == on_a


def test_a_protected_role_is_left_alone(n: Names, a: PrimaryHook, c: TargetHook, clusters: LocalClusters) -> None:
    clusters.sql(clusters.a, f"CREATE ROLE {n.prot} NOLOGIN CREATEDB")
    clusters.sql(clusters.c, f"CREATE ROLE {n.prot} LOGIN")
    plan = _sync(a, c, [n.prot], protected={**PROTECTED, n.prot: "pgshift's connection to C"})
    assert plan.changes == ()
    assert plan.warnings == (f"role {n.prot} left alone: pgshift's connection to C",)
    assert _role_on(clusters, "c", n.prot)[:3] == (True, False, False)


def test_verifiers_need_a_superuser_on_a_and_are_unknown_on_c_without_one(
        n: Names, a: PrimaryHook, clusters: LocalClusters, monkeypatch: pytest.MonkeyPatch) -> None:
    for node in (clusters.a, clusters.c):
        clusters.sql(node, f"CREATE ROLE {n.admin} LOGIN CREATEROLE PASSWORD 'admin-pw'")
        where = clusters.uri(node).split("@", 1)[1]
        monkeypatch.setenv(f"AIRFLOW_CONN_RL_{node.name.upper()}", f"postgresql://{n.admin}:admin-pw@{where}")
    with PrimaryHook("rl_a") as limited_a, pytest.raises(PermissionError, match="must be a superuser"):
        read_roles(limited_a, [n.member])
    with TargetHook("rl_c") as limited_c:
        on_c = read_roles(limited_c, [n.member])
    assert on_c[n.member].verifier is None and on_c[n.member].verifier_known is False
    # An unknown verifier on C is set again.
    plan = plan_roles(read_roles(a, [n.member]), on_c, protected=PROTECTED)
    assert RoleChange(n.member, "password verifier set") in plan.changes


def test_connection_limit_and_valid_until_follow_a(n: Names, a: PrimaryHook, c: TargetHook,
                                                   clusters: LocalClusters) -> None:
    clusters.sql(clusters.a, f"CREATE ROLE {n.limits} NOLOGIN")
    _sync(a, c, [n.limits])
    clusters.sql(clusters.a, f"ALTER ROLE {n.limits} CONNECTION LIMIT 3 VALID UNTIL '2031-02-03 04:05:06+00'")
    plan = _sync(a, c, [n.limits])
    assert _beyond_unknown_verifiers(plan, c) == (RoleChange(n.limits, "connection limit 3"),
                            RoleChange(n.limits, "valid until 2031-02-03T04:05:06.000000Z"))
    assert clusters.sql(clusters.c, "SELECT rolconnlimit, rolvaliduntil = '2031-02-03 04:05:06+00' FROM pg_roles "
                                    "WHERE rolname = %s", (n.limits,)) == [(3, True)]
    clusters.sql(clusters.a, f"ALTER ROLE {n.limits} CONNECTION LIMIT -1 VALID UNTIL 'infinity'")
    assert [ch.change for ch in _beyond_unknown_verifiers(_sync(a, c, [n.limits]), c)] == \
        ["connection limit -1", "valid until infinity"]
    assert _beyond_unknown_verifiers(_plan(a, c, [n.limits]), c) == ()


def test_memberships_wanted_on_c_only_are_granted_and_never_revoked(n: Names, a: PrimaryHook, c: TargetHook,
                                                                   clusters: LocalClusters) -> None:
    # Like a DBA's group on C only, made by the master user on Aurora (so pgshift's role has ADMIN OPTION on it).
    clusters.sql(clusters.c, f"CREATE ROLE {n.rds} NOLOGIN", user="postgres")
    names = [n.readers, n.member]
    wanted = {n.member: [n.rds]}

    def plan() -> RolePlan:
        return plan_roles(read_roles(a, names), read_roles(c, names, groups=[n.rds]), protected=PROTECTED,
                          memberships_on_c=wanted)

    first = plan()
    apply_roles(c, first)
    assert RoleChange(n.member, f"granted membership in {n.rds} (INHERIT true, SET true)") in first.changes
    assert (n.rds, False, True, True) in _memberships_on_c(clusters, n.member)
    assert _beyond_unknown_verifiers(plan(), c) == ()
