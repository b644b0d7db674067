"""Owners, ACLs, RLS and default privileges of the migrated objects: planned and applied from A to C, and
privilege parity between them, on the real servers A and C.

Each test builds its own schema and roles on both servers with the same DDL (as the schema copy would) and drops
them afterwards; the scope is that schema only, so the shared sample data does not take part.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg2
import pytest
from pgcluster import LocalClusters

from pgshift.migration.access.privileges import (
    AccessChange,
    AccessPlan,
    ParityReport,
    PrivilegeSet,
    apply_access,
    effective_privileges,
    plan_access,
    privilege_parity,
    read_access,
)
from pgshift.migration.access.privileges_states import ObjectName
from pgshift.migration.hooks.primary import PrimaryHook
from pgshift.migration.hooks.target import TargetHook
from pgshift.migration.scope import Scope

DDL = """
CREATE SCHEMA {s};
GRANT CREATE, USAGE ON SCHEMA {s} TO {owner};
CREATE TABLE {s}.orders (id serial PRIMARY KEY, note text, amount integer);
CREATE TABLE {s}.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);
CREATE TABLE {s}."Odd Name" ("Some Column" integer);
CREATE VIEW {s}.recent AS SELECT id, note FROM {s}.orders;
CREATE FUNCTION {s}.f(n integer) RETURNS integer LANGUAGE sql AS 'SELECT n';
CREATE PROCEDURE {s}.p() LANGUAGE sql AS 'SELECT 1';
CREATE TYPE {s}.mood AS ENUM ('calm', 'busy');
CREATE DOMAIN {s}.positive AS integer CHECK (VALUE > 0);
CREATE TYPE {s}.pair AS (a integer, b integer);
"""


@dataclass
class Setup:
    """A schema and roles, the same on A and C."""

    clusters: LocalClusters
    s: str
    owner: str
    reader: str
    writer: str
    only_on_a: list[str] = field(default_factory=list)

    @property
    def scope(self) -> Scope:
        return Scope(schemas=(self.s,))

    @property
    def roles(self) -> list[str]:
        return [self.owner, self.reader, self.writer]

    def both(self, statement: str) -> None:
        self.on("a", statement)
        self.on("c", statement)

    def on(self, node: str, statement: str) -> None:
        """``statement`` on A as its superuser, on C as ``postgres``: pgshift's role there, which makes C's objects
        (the schema copy) and, on an Aurora-shaped C, is no superuser (the master user)."""
        user = "postgres" if node == "c" else None
        self.clusters.sql(getattr(self.clusters, node), self._fill(statement), user=user)

    def one(self, node: str, query: str) -> object:
        return self.clusters.sql(getattr(self.clusters, node), self._fill(query))[0][0]

    def _fill(self, text: str) -> str:
        return text.format(s=self.s, owner=self.owner, reader=self.reader, writer=self.writer)

    def plan(self, *, force_rls: bool = True) -> AccessPlan:
        with PrimaryHook("pgshift_a") as a, TargetHook("pgshift_c") as c:
            return plan_access(read_access(a, self.scope), read_access(c, self.scope), force_rls=force_rls)

    def sync(self, *, force_rls: bool = True) -> AccessPlan:
        plan = self.plan(force_rls=force_rls)
        with TargetHook("pgshift_c") as c:
            apply_access(c, plan)
        return plan

    def parity(self, roles: list[str] | None = None) -> ParityReport:
        roles = self.roles if roles is None else roles
        with PrimaryHook("pgshift_a") as a, TargetHook("pgshift_c") as c:
            return privilege_parity(effective_privileges(a, self.scope, roles),
                                    effective_privileges(c, self.scope, roles),
                                    read_access(a, self.scope), read_access(c, self.scope))


@pytest.fixture
def setup(clusters: LocalClusters) -> Iterator[Setup]:
    tag = uuid.uuid4().hex[:8]
    st = Setup(clusters, f"pv_{tag}", f"pv_owner_{tag}", f"pv_reader_{tag}", f"pv_writer_{tag}")
    for role in st.roles:
        st.both(f"CREATE ROLE {role} NOLOGIN")
        # What the roles' migration gives pgshift's role on C (access.sync._act_as_owners; a no-op for a superuser).
        st.on("c", f"GRANT {role} TO postgres WITH INHERIT TRUE, SET TRUE")
    for statement in DDL.strip().split(";\n"):
        st.both(statement)
    yield st
    st.both("DROP SCHEMA IF EXISTS {s} CASCADE")
    for node in (clusters.a, clusters.c):  # the harness's superuser cleans up
        for role in st.roles + st.only_on_a:
            if clusters.sql(node, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
                clusters.sql(node, f"DROP OWNED BY {role}")
                clusters.sql(node, f"DROP ROLE {role}")


def test_equal_setups_give_an_empty_plan_and_parity(setup: Setup) -> None:
    s = setup.s
    with PrimaryHook("pgshift_a") as a:
        snap = read_access(a, setup.scope)
    assert {("schema", s), ("table", f"{s}.orders"), ("table", f"{s}.items"), ("view", f"{s}.recent"),
            ("table", f'{s}."Odd Name"'),
            ("sequence", f"{s}.orders_id_seq"), ("sequence", f"{s}.items_id_seq"), ("function", f"{s}.f(integer)"),
            ("procedure", f"{s}.p()"), ("type", f"{s}.mood"), ("domain", f"{s}.positive"),
            ("type", f"{s}.pair")} == set(snap.owners)
    assert snap.acl[("function", f"{s}.f(integer)")] == {("PUBLIC", "EXECUTE", False), ("postgres", "EXECUTE", False)}
    assert snap.acl[("schema", s)] >= {(setup.owner, "CREATE", False), (setup.owner, "USAGE", False)}
    plan = setup.plan()
    assert (plan.changes, plan.not_synced) == ((), ())
    report = setup.parity()
    assert report.ok, report
    assert report.per_role == {role: () for role in setup.roles}
    # schema 2, tables and view 7 each, sequences 3 each, routines and types 1 each; 4 per column (8 columns)
    assert report.checked[setup.reader] == 2 + 7 * 4 + 3 * 2 + 2 + 3 + 4 * (3 + 2 + 1 + 2)


def test_grants_on_a_are_planned_exactly_applied_and_then_in_parity(setup: Setup) -> None:
    s, reader, writer = setup.s, setup.reader, setup.writer
    setup.on("a", "GRANT USAGE ON SCHEMA {s} TO {reader}; GRANT SELECT ON {s}.orders TO {reader}; "
                  "GRANT UPDATE (note) ON {s}.orders TO {writer}; "
                  'GRANT INSERT ("Some Column") ON {s}."Odd Name" TO {writer}; '
                  "GRANT USAGE ON SEQUENCE {s}.orders_id_seq TO {writer}; "
                  "REVOKE EXECUTE ON FUNCTION {s}.f(integer) FROM PUBLIC; "
                  "GRANT EXECUTE ON FUNCTION {s}.f(integer) TO {reader} WITH GRANT OPTION")
    before = setup.parity()
    assert not before.ok
    assert before.per_role[reader] == (f"schema {s}: USAGE on A, not on C", f"table {s}.orders: SELECT on A, not on C")
    assert f"column {s}.orders.note: UPDATE on A, not on C" in before.per_role[writer]
    assert f"function {s}.f(integer): EXECUTE on C, not on A" in before.per_role[writer]  # PUBLIC's, on C only

    plan = setup.sync()
    assert set(plan.changes) == {
        AccessChange(f"schema {s}", f"GRANT USAGE TO {reader}"),
        AccessChange(f"table {s}.orders", f"GRANT SELECT TO {reader}"),
        AccessChange(f"column {s}.orders.note", f"GRANT UPDATE TO {writer}"),
        AccessChange(f'column {s}."Odd Name".Some Column', f"GRANT INSERT TO {writer}"),
        AccessChange(f"sequence {s}.orders_id_seq", f"GRANT USAGE TO {writer}"),
        AccessChange(f"function {s}.f(integer)", "REVOKE ALL FROM PUBLIC"),
        AccessChange(f"function {s}.f(integer)", f"GRANT EXECUTE TO {reader} WITH GRANT OPTION"),
    }
    assert len(plan.changes) == 7 and plan.not_synced == ()
    assert setup.one("c", "SELECT has_column_privilege('{writer}', '{s}.orders', 'note', 'UPDATE') "
                          "AND NOT has_column_privilege('{writer}', '{s}.orders', 'amount', 'UPDATE')") is True
    assert setup.one("c", "SELECT has_function_privilege('{reader}', '{s}.f(integer)', 'EXECUTE WITH GRANT OPTION') "
                          "AND NOT has_function_privilege('{writer}', '{s}.f(integer)', 'EXECUTE')") is True
    after = setup.parity()
    assert after.ok, after
    assert setup.plan().changes == ()


def test_a_revoke_on_c_behind_pgshifts_back_fails_parity_and_plan_fixes_it(setup: Setup) -> None:
    s, writer = setup.s, setup.writer
    setup.both("GRANT USAGE ON SCHEMA {s} TO {writer}; GRANT SELECT, INSERT ON {s}.orders TO {writer}")
    assert setup.parity().ok
    setup.on("c", "REVOKE INSERT ON {s}.orders FROM {writer}")

    report = setup.parity()
    assert not report.ok
    assert report.per_role[writer] == (f"table {s}.orders: INSERT on A, not on C",)
    assert report.per_role[setup.reader] == () and report.owners == () and report.other == ()
    plan = setup.sync()
    assert plan.changes == (AccessChange(f"table {s}.orders", f"GRANT INSERT TO {writer}"),)
    assert setup.parity().ok


def test_owner_differences_are_reported_and_fixed(setup: Setup) -> None:
    s, owner = setup.s, setup.owner
    setup.on("a", "ALTER TABLE {s}.orders OWNER TO {owner}; ALTER FUNCTION {s}.f(integer) OWNER TO {owner}; "
                  "ALTER DOMAIN {s}.positive OWNER TO {owner}; ALTER SCHEMA {s} OWNER TO {owner}")
    report = setup.parity()
    assert not report.ok
    assert set(report.owners) == {f"{kind} {name}: owner {owner} on A, postgres on C" for kind, name in [
        ("schema", s), ("table", f"{s}.orders"), ("sequence", f"{s}.orders_id_seq"),
        ("function", f"{s}.f(integer)"), ("domain", f"{s}.positive")]}

    plan = setup.sync()
    assert set(plan.changes) == {
        AccessChange(f"schema {s}", f"owner postgres -> {owner}"),
        AccessChange(f"table {s}.orders", f"owner postgres -> {owner}"),
        AccessChange(f"sequence {s}.orders_id_seq", f"owner postgres -> {owner} (with table {s}.orders)"),
        AccessChange(f"function {s}.f(integer)", f"owner postgres -> {owner}"),
        AccessChange(f"domain {s}.positive", f"owner postgres -> {owner}"),
    }
    assert setup.one("c", "SELECT relowner::regrole::text FROM pg_class WHERE oid = '{s}.orders_id_seq'::regclass") \
        == owner
    after = setup.parity()
    assert after.ok, after


def test_force_rls_is_left_off_at_setup_and_applied_in_the_cutover(setup: Setup) -> None:
    s = setup.s
    setup.both("CREATE POLICY mine ON {s}.orders USING (amount > 0)")
    setup.on("a", "ALTER TABLE {s}.orders ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    flags = "SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE oid = '{s}.orders'::regclass"

    assert setup.sync(force_rls=False).changes == (AccessChange(f"table {s}.orders", "ENABLE ROW LEVEL SECURITY"),)
    assert setup.one("c", flags) == "truefalse"
    report = setup.parity()
    assert report.other == (f"table {s}.orders: row level security enabled, forced on A, enabled on C",)
    assert setup.plan(force_rls=False).changes == ()

    assert setup.sync(force_rls=True).changes == (AccessChange(f"table {s}.orders", "FORCE ROW LEVEL SECURITY"),)
    assert setup.one("c", flags) == "truetrue"
    assert setup.parity().ok

    # A forced table on C is set NO FORCE at setup: the apply worker writes as the owner.
    assert setup.sync(force_rls=False).changes == (AccessChange(f"table {s}.orders", "NO FORCE ROW LEVEL SECURITY"),)
    assert setup.one("c", flags) == "truefalse"


def test_a_policy_difference_is_not_synced_and_fails_parity(setup: Setup) -> None:
    s = setup.s
    setup.both("CREATE POLICY mine ON {s}.orders USING (amount > 0)")
    setup.on("a", "CREATE POLICY theirs ON {s}.orders FOR SELECT TO {reader} USING (true)")
    plan = setup.plan()
    assert plan.changes == ()
    expected = (f"table {s}.orders: policy on A only: theirs PERMISSIVE FOR SELECT TO {setup.reader} "
                "USING (true)")
    assert plan.not_synced == (expected,)
    report = setup.parity()
    assert not report.ok and report.other == (expected,)


def test_default_privileges_are_reported_and_fixed(setup: Setup) -> None:
    s, owner, reader = setup.s, setup.owner, setup.reader
    setup.on("a", "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT SELECT ON TABLES TO {reader}; "
                  "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC")
    report = setup.parity()
    assert not report.ok
    assert f"default privileges of {owner} in schema {s} on tables: {reader}: SELECT on A, {reader}: nothing on C" \
        in report.other
    assert f"default privileges of {owner} on functions: PUBLIC: nothing on A, PUBLIC: EXECUTE on C" in report.other

    plan = setup.sync()
    assert plan.changes == (
        AccessChange(f"default privileges of {owner} on functions", "REVOKE ALL FROM PUBLIC"),
        AccessChange(f"default privileges of {owner} in schema {s} on tables", f"GRANT SELECT TO {reader}"),
    )
    assert setup.parity().ok
    # What the default privileges are for: a table the owner creates on C is readable by the reader.
    conn = psycopg2.connect(setup.clusters.uri(setup.clusters.c))
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET ROLE {owner}; CREATE TABLE {s}.later (x int); CREATE FUNCTION {s}.g() RETURNS int "
                        "LANGUAGE sql AS 'SELECT 1'; RESET ROLE")
            cur.execute(f"SELECT has_table_privilege(%s, '{s}.later', 'SELECT'), "
                        f"has_function_privilege(%s, '{s}.g()', 'EXECUTE')", (reader, reader))
            assert cur.fetchone() == (True, False)
    finally:
        conn.rollback()
        conn.close()


def test_a_role_missing_on_c_gives_differences_not_an_error(setup: Setup) -> None:
    s, ghost = setup.s, f"{setup.reader}_ghost"
    setup.only_on_a.append(ghost)
    setup.on("a", f"CREATE ROLE {ghost} NOLOGIN; GRANT USAGE ON SCHEMA {{s}} TO {ghost}; "
                  f"GRANT SELECT ON {{s}}.orders TO {ghost}")
    report = setup.parity([*setup.roles, ghost])
    assert not report.ok
    differences = report.per_role[ghost]
    assert differences[0] == f"role {ghost} missing on C"
    # what it holds through PUBLIC on A is missing too (EXECUTE on the routines, USAGE on the types)
    assert {f"schema {s}: USAGE on A, not on C", f"table {s}.orders: SELECT on A, not on C",
            f"function {s}.f(integer): EXECUTE on A, not on C"} <= set(differences)
    assert all(line.endswith("on A, not on C") for line in differences[1:])
    assert report.per_role[setup.reader] == ()

    plan = setup.sync()  # applies nothing for the missing role, and does not fail
    assert plan.changes == ()
    assert set(plan.not_synced) == {f"schema {s}: role {ghost} does not exist on C",
                                    f"table {s}.orders: role {ghost} does not exist on C"}


def test_keywords_come_only_from_the_whitelists() -> None:
    c = TargetHook("pgshift_c")  # no connection is opened: the keyword is refused first
    with pytest.raises(ValueError, match="not privilege names"):
        c.grant_privileges("table", ObjectName("public", "t"), ["SELECT; DROP TABLE t"], "app")
    with pytest.raises(KeyError):
        c.set_owner("table; DROP", ObjectName("public", "t"), "app")
    with pytest.raises(ValueError, match="row level security action"):
        c.set_row_level_security(ObjectName("public", "t"), "ENABLE; DROP")
    with pytest.raises(ValueError, match="default privileges object type"):
        c.alter_default_privileges("app", "", "tables; DROP", ["SELECT"], "app")


def test_a_grant_option_only_on_c_is_revoked(setup: Setup) -> None:
    s, reader = setup.s, setup.reader
    setup.both("GRANT SELECT ON {s}.orders TO {reader}")
    setup.on("c", "GRANT SELECT ON {s}.orders TO {reader} WITH GRANT OPTION")
    report = setup.parity()  # has_table_privilege answers SELECT alike: the ACLs tell the grant option apart
    assert report.per_role[reader] == ()
    assert report.other == (f"table {s}.orders: {reader}: SELECT on A, {reader}: SELECT with grant option on C",)
    plan = setup.sync()
    assert plan.changes == (AccessChange(f"table {s}.orders", f"REVOKE GRANT OPTION FOR SELECT FROM {reader}"),)
    assert setup.parity().ok


def test_scope_of_chosen_tables_and_of_all_tables(setup: Setup) -> None:
    s = setup.s
    with PrimaryHook("pgshift_a") as a:
        chosen = read_access(a, Scope(tables=((s, "orders"),)))
        everything = read_access(a, Scope())
        eff = effective_privileges(a, Scope(tables=((s, "orders"),)), [setup.reader])
    # the table, the sequence it owns, and the schema holding it (not the schema's other objects)
    assert set(chosen.owners) == {("schema", s), ("table", f"{s}.orders"), ("sequence", f"{s}.orders_id_seq")}
    assert chosen.rls == {("table", f"{s}.orders"): (False, False)}
    assert {("schema", "public"), ("table", f"{s}.items"), ("type", f"{s}.pair")} <= set(everything.owners)
    assert not any(kind == "schema" and name.startswith(("pg_", "information_schema"))
                   for kind, name in everything.owners)
    # schema 2 + table 7 + sequence 3 + 3 columns x 4
    reader = eff[setup.reader]
    assert isinstance(reader, PrivilegeSet) and reader.exists and reader.checked == 2 + 7 + 3 + 12


def test_maintain_is_not_compared_between_16_and_17() -> None:
    from pgshift.migration.access.privileges import AccessSnapshot

    def snap(version: int, owner_privileges: list[str]) -> AccessSnapshot:
        key = ("table", "public.t")
        return AccessSnapshot(owners={key: "app"}, acl={key: frozenset(("app", p, False) for p in owner_privileges)},
                              column_acl={}, rls={key: (False, False)}, policies={key: frozenset()},
                              default_acl={}, names={key: ObjectName("public", "t")}, roles=frozenset({"app"}),
                              server_version=version)

    on_16 = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
    plan = plan_access(snap(160004, on_16), snap(170002, [*on_16, "MAINTAIN"]))
    assert (plan.changes, plan.not_synced) == ((), ())
    plan = plan_access(snap(170002, on_16), snap(170002, [*on_16, "MAINTAIN"]))
    assert plan.changes == (AccessChange("table public.t", "REVOKE MAINTAIN FROM app"),)
