"""The chain's preflight checks, one function each: parameters, A, the roles, B, C; what logical replication
does not carry (:mod:`pgshift.migration.preflight.not_replicated`) and DMS (:mod:`pgshift.migration.preflight.dms`)
have modules of their own, their checks importable from here too, as :class:`Finding`
(:mod:`pgshift.migration.preflight.finding`).

Read-only on every server. Each check returns what it read and every problem it found, so that a caller
lists all problems at once; the preflight operator runs them all, the validation the ones it needs.
Server libraries (psycopg2, the ssh, postgres and amazon hooks) are imported when a check runs, not
when a DAG file that imports an operator is parsed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pgshift.common.connections import connection_id
from pgshift.common.validation import identifier_problem, positive_problem, slot_name_problem, table_list_problems
from pgshift.migration.config import ChainConfig
from pgshift.migration.preflight.dms import DMS_MIN_ENGINE, check_dms, version_tuple
from pgshift.migration.preflight.finding import Finding
from pgshift.migration.preflight.not_replicated import check_not_replicated

__all__ = ["DMS_MIN_ENGINE", "MIN_MAJOR", "MODES", "Finding", "check_a", "check_b", "check_c", "check_dms",
           "check_not_replicated", "check_params", "check_roles", "major_of", "version_tuple"]

if TYPE_CHECKING:
    from pgshift.migration.access.sync import AccessSpec

MIN_MAJOR = 16
MODES = ("native", "dms")


def major_of(version_num: int) -> int:
    return version_num // 10000


# -- parameters
def check_params(spec: ChainConfig) -> list[str]:
    """Names, thresholds and connection ids; run first, so that names are safe to use in queries."""
    problems = []
    if spec.mode not in MODES:
        problems.append(f"mode must be one of {', '.join(MODES)}, got {spec.mode!r}")
    for value, what in ((spec.physical_slot_name, "physical_slot_name"), (spec.slot_name, "slot_name")):
        if p := slot_name_problem(value, what):
            problems.append(p)
    if spec.physical_slot_name == spec.slot_name:
        problems.append("physical_slot_name and slot_name must differ")
    for value, what in ((spec.publication_name, "publication_name"), (spec.subscription_name, "subscription_name")):
        if p := identifier_problem(value, what):
            problems.append(p)
    for schema in spec.schemas or []:
        if p := identifier_problem(schema, f"schemas: {schema!r}"):
            problems.append(p)
    problems += table_list_problems(spec.tables or [])
    for key, number in spec.thresholds().items():
        if p := positive_problem(number, key):
            problems.append(p)
    for conn_id, what in ((spec.conn_a, "conn_a"), (spec.conn_a_replication, "conn_a_replication"),
                          (spec.conn_b, "conn_b"), (spec.conn_b_subscription, "conn_b_subscription"),
                          (spec.conn_c, "conn_c")):
        if not conn_id:
            problems.append(f"{what} (an Airflow connection id) is empty")
    if spec.fallback:
        if p := slot_name_problem(spec.fallback_subscription_name, "fallback_subscription_name"):
            problems.append(p)
        if p := identifier_problem(spec.fallback_publication_name, "fallback_publication_name"):
            problems.append(p)
        if not spec.conn_c_subscription:
            problems.append("conn_c_subscription (an Airflow connection id) is empty")
    if not str(spec.b_data_dir or "").startswith("/"):
        problems.append(f"b_data_dir must be an absolute path, got {spec.b_data_dir!r}")
    return problems


# -- A
def check_a(spec: ChainConfig) -> Finding:
    """A's version, settings, roles, tables in scope and any existing publication/physical slot.

    ``facts``: A's ``server_facts`` with ``major`` and ``tables`` (``schema.table`` in scope); empty if
    A cannot be read.
    """
    from airflow.sdk import BaseHook

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.scope import Scope
    from pgshift.migration.sync.standby import rights_problem

    out = Finding()
    problems = out.problems
    try:
        with PrimaryHook(spec.conn_a) as a:
            facts = a.server_facts()
            repl_user = BaseHook.get_connection(connection_id(spec.conn_a_replication)).login
            source_user = BaseHook.get_connection(connection_id(spec.conn_b_subscription)).login
            repl_role = a.role(repl_user)
            source_role = a.role(source_user)
            scope = Scope.from_params(spec.schemas, spec.tables)
            tables = a.scope_tables(scope, source_user if source_role and source_user else "public")
            present_schemas = set(a.schemas_present(scope.schemas))
            publication = a.publication(spec.publication_name)
            physical = a.physical_slot(spec.physical_slot_name)
            synchronous = rights_problem(a) if spec.synchronous_standby else None
    except Exception as exc:  # noqa: BLE001 - reported, with every other problem
        problems.append(f"A ({spec.conn_a}): cannot connect or read: {exc}".strip())
        return out
    major = major_of(facts["version_num"])
    if major < MIN_MAJOR:
        problems.append(f"A runs PostgreSQL {facts['version']}: logical decoding on a standby needs "
                        f"{MIN_MAJOR} or newer on A and B (PostgreSQL 14/15 cannot decode on a standby)")
    if facts["wal_level"] != "logical":
        problems.append(f"A runs with wal_level={facts['wal_level']}: logical decoding on the standby B "
                        "requires wal_level=logical on the primary too (set it in postgresql.conf, not on the "
                        "command line, so that B inherits it, and restart A)")
    slots_needed = 0 if physical else 1
    if facts["max_replication_slots"] - facts["slots_used"] < slots_needed:
        problems.append(f"A has max_replication_slots={facts['max_replication_slots']} with "
                        f"{facts['slots_used']} in use: no room for the physical slot of B")
    if facts["max_wal_senders"] - facts["senders_used"] < 1 and not (physical and physical.active):
        problems.append(f"A has max_wal_senders={facts['max_wal_senders']} with {facts['senders_used']} "
                        "in use: no walsender left for B")
    if facts["max_replication_slots"] < 2 + len(tables or []) // 4:
        problems.append(f"max_replication_slots={facts['max_replication_slots']} (inherited by B) is too low "
                        "for the logical slot and the table-sync slots of the initial copy")
    if repl_role is None:
        problems.append(f"replication role {repl_user!r} (connection {spec.conn_a_replication}) "
                        "does not exist on A")
    elif not repl_role.rolreplication and not repl_role.rolsuper:
        problems.append(f"role {repl_user!r} (connection {spec.conn_a_replication}) "
                        "lacks the REPLICATION attribute")
    elif not repl_role.rolcanlogin:
        problems.append(f"role {repl_user!r} (connection {spec.conn_a_replication}) cannot log in")
    if source_role is None:
        problems.append(f"role {source_user!r} (connection {spec.conn_b_subscription}, used by C/DMS to read B) "
                        "does not exist on A (B's roles are A's)")
    elif not source_role.rolreplication and not source_role.rolsuper:
        problems.append(f"role {source_user!r} (connection {spec.conn_b_subscription}) lacks the REPLICATION attribute")
    for schema in scope.schemas:
        if schema not in present_schemas:
            problems.append(f"schema {schema!r} does not exist on A")
    found = {(r.schema, r.table) for r in tables}
    for schema, table in scope.tables:
        if (schema, table) not in found:
            problems.append(f"table {schema}.{table} does not exist on A")
    if not tables and not problems:
        problems.append(f"no tables in scope ({scope.describe()}) on A")
    for r in tables:
        name = f"{r.schema}.{r.table}"
        ident = r.replica_identity
        if ident == "n" or (ident == "d" and not r.has_pk) or (ident == "i" and not r.has_identity_index):
            problems.append(
                f"table {name} has no primary key or replica identity: once published, its UPDATE and "
                f"DELETE on A would fail (add a primary key, or ALTER TABLE {name} REPLICA IDENTITY FULL)")
        if source_role and not r.role_can_select and not source_role.rolsuper:
            problems.append(f"role {source_user!r} cannot SELECT {name}: the initial copy reads it as that role "
                            f"(GRANT SELECT ON {name} TO {source_user})")
        if source_role and r.row_security and not (source_role.rolsuper or source_role.rolbypassrls):
            problems.append(f"table {name} has row-level security and role {source_user!r} (connection "
                            f"{spec.conn_b_subscription}) is subject to it: the initial copy would fail rather than "
                            "copy "
                            f"only the rows its policies show (ALTER ROLE {source_user} BYPASSRLS on A)")
    if publication and not scope.matches_publication(publication):
        problems.append(f"publication {spec.publication_name!r} already exists on A with a different table set")
    if synchronous:  # the setup's synchronous_standby task and the guard change A's synchronous_standby_names
        problems.append(synchronous)
    out.facts = {**facts, "major": major, "tables": [f"{r.schema}.{r.table}" for r in tables]}
    return out


# -- the roles
def check_roles(spec: ChainConfig) -> Finding:
    """The roles the migrated objects need on C (:func:`pgshift.migration.access.roles.roles_in_scope`; a chain of
    named databases: those of every database, roles being the server's), read from A
    with their password verifiers: what cannot be migrated as it is (attributes Aurora cannot grant, md5 verifiers) is a
    warning; bad role params, or verifiers pgshift cannot read, a problem.

    ``facts``: ``roles`` (names in scope), ``login`` (those that can log in on A).
    """
    from airflow.sdk import BaseHook

    from pgshift.migration.access.sync import AccessSpec
    from pgshift.migration.hooks.primary import PrimaryHook

    out = Finding()
    access = AccessSpec.from_params(schemas=spec.schemas, tables=spec.tables, extra_roles=spec.extra_roles,
                                    exclude_roles=spec.exclude_roles, memberships_on_c=spec.memberships_on_c)
    out.problems += access.problems()
    if out.problems:
        return out
    from pgshift.migration.access import roles

    try:
        # Roles are the server's, but which ones are in scope is each database's catalog: the union, read once.
        names = sorted({name for part in spec.database_chains() for name in _roles_in_scope(part, access)})
        with PrimaryHook(spec.conn_a) as a:
            on_a = roles.read_roles(a, names)
    except Exception as exc:  # noqa: BLE001 - reported, with every other problem
        out.problems.append(f"roles: cannot read the roles in scope on A ({spec.conn_a}): {exc}".strip())
        return out
    missing = sorted(set(access.extra_roles) - set(on_a))
    if missing:
        out.problems.append(f"extra_roles: {', '.join(missing)} do not exist on A")
    out.warnings += roles.role_findings(on_a)
    c_login = BaseHook.get_connection(connection_id(spec.conn_c)).login
    if c_login in on_a:
        out.warnings.append(f"role {c_login!r} is in scope and is the role pgshift connects to C with: it is left "
                            "as it is on C")
    out.facts = {"roles": sorted(on_a), "login": sorted(r for r, s in on_a.items() if s.login)}
    return out


def _locale_problem(part: ChainConfig) -> str | None:
    """C's database as A's (encoding, locale): :func:`pgshift.migration.setup.databases.locale_problem`."""
    from pgshift.migration.setup.databases import locale_problem

    try:
        return locale_problem(part)
    except Exception as exc:  # noqa: BLE001 - reported, with every other problem
        return f"database {part.database}: cannot compare its encoding and locale on A and C: {exc}".strip()


def _roles_in_scope(part: ChainConfig, access: AccessSpec) -> list[str]:
    from pgshift.migration.access import roles
    from pgshift.migration.hooks.primary import PrimaryHook

    with PrimaryHook(part.conn_a) as a:
        return roles.roles_in_scope(a, access.scope, (), access.extra_roles, access.exclude_roles)


# -- B
def check_b(spec: ChainConfig, a_major: int | None) -> Finding:
    """B running: a standby of A's major. B not running: host B's binaries, and an empty data directory.

    ``facts``: B's ``server_facts`` with ``major`` and ``running``, or (B not running) the binaries'
    ``version``, ``major`` and ``running`` False.
    """
    from pgshift.common.hooks.host import HostB
    from pgshift.migration.hooks.standby import StandbyHook

    out = Finding()
    problems = out.problems
    facts: dict[str, Any] | None
    try:
        with StandbyHook(spec.conn_b, connect_timeout=5) as b:
            facts = b.server_facts()
    except Exception:  # noqa: BLE001 - not running yet: look at host B instead
        facts = None
    if facts is not None:
        major = major_of(facts["version_num"])
        if major < MIN_MAJOR:
            problems.append(f"B runs PostgreSQL {facts['version']}: logical decoding on a standby needs "
                            f"{MIN_MAJOR} or newer (PostgreSQL 14/15 cannot decode on a standby)")
        elif a_major and major != a_major:
            problems.append(f"B runs PostgreSQL {major}, A runs {a_major}: "
                            "a physical standby needs the same major")
        if not facts["in_recovery"]:
            problems.append(f"B ({spec.conn_b}) is running and is not a standby: refusing to touch a primary")
        out.facts = {**facts, "major": major, "running": True}
        return out
    out.facts = {"running": False}
    host = HostB(spec.ssh_conn_id, spec.b_os_user)
    try:
        version = host.run([f"{str(spec.b_bin_dir).rstrip('/')}/postgres", "--version"], timeout=30)
        contents = host.run(["sh", "-c", 'ls -A "$1" 2>/dev/null | head -n 1', "sh", str(spec.b_data_dir)],
                            timeout=30)
    except Exception as exc:  # noqa: BLE001 - reported with the rest
        problems.append(f"{host.where}: cannot run commands: {exc}")
        return out
    if version.returncode:
        problems.append(f"{host.where}: {spec.b_bin_dir}/postgres --version failed: "
                        f"{(version.stderr or version.stdout).strip()}")
        return out
    text = version.stdout.strip()
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", text) or re.search(r"(\d+)", text)
    major = int(found.group(1)) if found else 0
    if major < MIN_MAJOR:
        problems.append(f"B's binaries are {text} ({spec.b_bin_dir}): PostgreSQL {major} cannot do logical "
                        f"decoding on a standby; B needs PostgreSQL {MIN_MAJOR} or newer")
    elif a_major and major != a_major:
        problems.append(f"B's binaries are PostgreSQL {major}, A runs {a_major}: a physical standby needs "
                        "the same major version")
    if contents.stdout.strip() and not spec.move_aside_data_dir:
        problems.append(f"B's data directory {spec.b_data_dir} is not empty: set move_aside_data_dir to move it "
                        "aside (mv data data_old), or empty it")
    out.facts = {"version": text, "major": major, "running": False}
    return out


# -- C
def check_c(spec: ChainConfig, tables: list[str], *, database_on_c: bool = True) -> Finding:
    """C is writable, and holds neither another subscription of that name nor (unless allowed) the tables.

    ``database_on_c`` False (one of a chain's named databases that C has not yet): the setup creates it, so it holds
    nothing; C is read through conn_c's own database, and its role must be allowed to create databases.
    ``facts``: C's ``server_facts`` with ``subscription_exists`` (and ``database_exists`` for a named database);
    empty if C cannot be read.
    """
    from pgshift.migration.hooks.target import TargetHook

    out = Finding()
    if not database_on_c:
        try:
            with TargetHook(connection_id(spec.conn_c)) as c:
                info = c.server_facts()
                may_create = c.may_create_databases()
        except Exception as exc:  # noqa: BLE001
            out.problems.append(f"C ({connection_id(spec.conn_c)}): cannot connect or read: {exc}".strip())
            return out
        if info["in_recovery"]:
            out.problems.append(f"C ({connection_id(spec.conn_c)}) is a read-only standby: it cannot receive the "
                                "migration")
        if locale := _locale_problem(spec):
            out.problems.append(locale)
        if not may_create:
            out.problems.append(f"C has no database {spec.database!r}, and the role of connection "
                                f"{connection_id(spec.conn_c)} may not create one (the setup creates it, owned by "
                                "that role): run ALTER ROLE <role> CREATEDB on C (Aurora's master user has it), or "
                                "create the database on C owned by that role")
        out.facts = {**info, "subscription_exists": False, "database_exists": False}
        return out
    try:
        with TargetHook(spec.conn_c) as c:
            info = c.server_facts()
            subscription = c.subscription(spec.subscription_name)
            pairs = [t.split(".", 1) for t in tables]
            present = c.tables_present([(p[0], p[1]) for p in pairs])
    except Exception as exc:  # noqa: BLE001
        out.problems.append(f"C ({spec.conn_c}): cannot connect or read: {exc}".strip())
        return out
    if info["in_recovery"]:
        out.problems.append(f"C ({spec.conn_c}) is a read-only standby: it cannot receive the migration")
    if locale := _locale_problem(spec):
        out.problems.append(locale)
    if subscription:
        if subscription.slot_name != spec.slot_name:
            out.problems.append(f"subscription {spec.subscription_name!r} already exists on C with slot "
                                f"{subscription.slot_name!r}, not {spec.slot_name!r}")
    elif present and not spec.allow_existing_tables_on_c:
        names = ", ".join(f"{s}.{t}" for s, t in present)
        out.problems.append(f"C already holds {len(present)} of the tables in scope ({names}): the initial copy "
                            "would add rows to them; drop them on C or set allow_existing_tables_on_c")
    out.facts = {**info, "subscription_exists": bool(subscription)}
    if spec.database:
        out.facts["database_exists"] = True
    return out



