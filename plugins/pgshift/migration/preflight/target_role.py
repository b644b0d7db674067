"""The preflight of pgshift's own role on C (``conn_c``'s login): may it do what the chain does there?

On Aurora nobody is a superuser: pgshift logs in to C as the master user or a role the DBA made, and every
right below has to be given. A superuser has them all and passes. Each missing right is one problem naming the
statement to run on C (as the master user on Aurora), found before anything changes, rather than the chain
failing half-way. The list, from the statements pgshift runs on C (``pgshift/migration/sql``):

- ``CREATE`` on C's database (``GRANT CREATE ON DATABASE <db> TO <role>``): the schema copy creates the migrated
  schemas (``CREATE SCHEMA`` in pg_dump's output); PostgreSQL >= 16 lets a non-superuser ``CREATE
  SUBSCRIPTION`` only with it; the way back's ``CREATE PUBLICATION`` needs it. Always.
- ``CREATE`` on each migrated schema that already exists on C (``GRANT CREATE ON SCHEMA <schema> TO <role>``):
  the restore creates the tables there (``public`` is ``pg_database_owner``'s from PostgreSQL 15: only the
  database's owner may create in it unless granted). Always.
- ``CREATEROLE`` (``ALTER ROLE <role> CREATEROLE``; on Aurora, connect as the master user, which has it): task
  ``migrate_roles`` creates the roles the migrated objects need, sets their password verifiers and memberships.
  Always (the roles are always migrated).
- ADMIN OPTION on each role in scope that C already has (``GRANT <r> TO <role> WITH ADMIN OPTION``, run by a
  role holding it: its creator, or the master user for roles it created): PostgreSQL 16 lets a ``CREATEROLE``
  role alter only roles it administers, and pgshift sets an existing role's password verifier (on Aurora it
  cannot read C's, so always), attributes where they differ, and grants itself membership (``SET``, ``INHERIT``)
  for the owners. A role pgshift creates is administered by it. Roles that are superusers on C, and pgshift's
  own role, are left alone by the role sync, so not checked. Always.
- The privileges of ``pg_create_subscription`` (``GRANT pg_create_subscription TO <role>``): PostgreSQL >= 16's
  condition for a non-superuser's ``CREATE SUBSCRIPTION`` (task ``subscribe``). Mode ``native`` only (DMS
  writes to C itself). With it, ``conn_b_subscription`` must carry a password: a non-superuser's subscription
  must authenticate with one (``password_required``), or the apply worker is refused.
- The privileges of ``pg_read_all_stats`` (``GRANT pg_monitor TO <role>``, which holds it): without them
  ``pg_stat_activity`` hides other roles' sessions (NULL ``backend_type``, ``state``, ``backend_xid``), so the
  cutover's check that nobody wrote on C before it (``other_sessions.sql``) and the way back's fence on C
  (``terminate_role_sessions.sql``, ``unfenced_sessions.sql``) would see none and pass silently. Always.
- Ownership of C's database, or membership of its owner (``ALTER DATABASE <db> OWNER TO <role>``): the fallback
  fences C with ``ALTER DATABASE … SET default_transaction_read_only`` and keeps its fence marker on the database
  (the setting ``pgshift.fence``, or where Aurora refuses that placeholder the database's comment), both the
  owner's. With ``fallback`` on only. (On Aurora the master user owns the databases it creates.)
- The privileges of ``pg_signal_backend`` (``GRANT pg_signal_backend TO <role>``): the fallback fences C and ends
  the application's sessions there (``terminate_role_sessions.sql``) and ends a stale holder of the switchover's
  lease (``fence_lease_evict.sql``), both with ``pg_terminate_backend`` on other roles' backends. With
  ``fallback`` on only.

On Aurora (an ``rds_superuser`` role exists on C) a role outside ``rds_superuser`` is told that ``GRANT
rds_superuser TO <role>``, run as the master user, gives all three predefined roles at once (Aurora's
``rds_superuser`` holds them); ``CREATE``, ``CREATEROLE``, ADMIN OPTION and the database's ownership are not
covered by it. ``BYPASSRLS`` is not asked for: pgshift reads a table with row-level security with its owner's
privileges (its membership of the owner inherits them), which the policies do not bind unless forced. What
the way back's replication role needs on C (``REPLICATION`` or ``rds_replication``) is
:mod:`pgshift.migration.preflight.fallback`'s; pgshift's own role needs neither: the way back's slot on C is made
through ``conn_c_subscription``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace

from pgshift.common.connections import connection_id
from pgshift.migration.config import ChainConfig
from pgshift.migration.preflight.checks import Finding

SIMPLE_NAME = re.compile(r"^[a-z_][a-z0-9_$]*$")


def shown(name: str) -> str:
    """``name`` as it is written in a statement for the user to run (double-quoted unless plain)."""
    return name if SIMPLE_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def check_target_role(spec: ChainConfig, tables: list[str], roles: list[str], *,
                      database_on_c: bool = True) -> Finding:
    """What :mod:`this module <pgshift.migration.preflight.target_role>` lists, read on C as conn_c's role.

    :param tables: the tables in scope (``schema.table``, from A): their schemas are the ones checked for CREATE
    :param roles: the roles in scope (from A, :func:`pgshift.migration.preflight.checks.check_roles`)
    :param database_on_c: False for one of a chain's named databases that C has not yet (the setup creates it):
        the role's rights are read in conn_c's own database, and it will own the new one
    ``facts``: the role's rights as read (:class:`pgshift.migration.hooks.states.TargetRoleRights`); empty if C
    cannot be read (:func:`pgshift.migration.preflight.checks.check_c` names that problem).
    """
    from pgshift.migration.hooks.target import TargetHook

    out = Finding()
    schemas = sorted({t.split(".", 1)[0] for t in tables}) if database_on_c else []
    try:
        with TargetHook(spec.conn_c if database_on_c else connection_id(spec.conn_c)) as c:
            rights = c.role_rights(schemas, roles)
    except Exception:  # noqa: BLE001 - check_c reports that C cannot be read
        return out
    if not database_on_c:
        # The setup creates the database as this role (check_c asks for CREATEDB): it will own it, and so may
        # create in it and fence it; what is read in conn_c's own database says nothing of that one.
        rights = replace(rights, database=spec.database or rights.database, database_create=True,
                         database_owner=True)
    out.facts = asdict(rights)
    if rights.rolsuper:
        return out
    role, where = shown(rights.rolname), f"pgshift's role {rights.rolname!r} on C (connection {spec.conn_c})"
    grouped = ""
    if rights.aurora and not rights.rds_superuser:
        grouped = (f" (on Aurora, GRANT rds_superuser TO {role}, run as the master user, gives pg_create_subscription, "
                   "pg_monitor and pg_signal_backend at once)")
    problems = out.problems
    if not rights.database_create:
        problems.append(f"{where} may not create in database {rights.database!r}: the schema copy creates schemas, "
                        "and a non-superuser's CREATE SUBSCRIPTION and CREATE PUBLICATION need it: run "
                        f"GRANT CREATE ON DATABASE {shown(rights.database)} TO {role}")
    for schema in rights.schemas_without_create:
        problems.append(f"{where} may not create tables in schema {schema!r}, which the schema copy restores "
                        f"tables into: run GRANT CREATE ON SCHEMA {shown(schema)} TO {role}")
    if not rights.rolcreaterole:
        problems.append(f"{where} lacks CREATEROLE: task migrate_roles creates the roles the migrated objects need: "
                        f"run ALTER ROLE {role} CREATEROLE (on Aurora, connect as the master user, which has it)")
    for name in rights.roles_without_admin:
        problems.append(f"{where} does not administer role {name!r}, which C already has and task migrate_roles "
                        "would alter (password, attributes, memberships; PostgreSQL 16 allows that only with ADMIN "
                        f"OPTION): run GRANT {shown(name)} TO {role} WITH ADMIN OPTION as a role that holds it (its "
                        f"creator), drop role {name!r} on C so that pgshift creates it, or leave it out of scope "
                        "(exclude_roles)")
    if spec.mode == "native" and not rights.create_subscription:
        problems.append(f"{where} may not create a subscription (PostgreSQL 16 and later: a non-superuser needs the "
                        f"privileges of pg_create_subscription): run GRANT pg_create_subscription TO {role}{grouped}")
    if not rights.read_all_stats:
        problems.append(f"{where} cannot see other roles' sessions in pg_stat_activity, so the cutover's check that "
                        "nobody wrote on C, and the fallback's fence there, would pass without seeing them: run "
                        f"GRANT pg_monitor TO {role}{grouped}")
    if spec.fallback and not rights.signal_backend:
        problems.append(f"{where} may not end other roles' sessions: the fallback (fallback on) fences C and ends "
                        f"the application's sessions and a stale lease holder there: run GRANT pg_signal_backend "
                        f"TO {role}{grouped}, or set fallback to false")
    if spec.fallback and not rights.database_owner:
        problems.append(f"{where} does not own database {rights.database!r} (nor is a member of its owner): the "
                        "fallback (fallback on) fences C with ALTER DATABASE … SET default_transaction_read_only and "
                        "keeps its fence marker on the database, which only its owner may do: run ALTER DATABASE "
                        f"{shown(rights.database)} OWNER TO {role} (on Aurora, a database the master user made is "
                        "its own), or set fallback to false")
    if spec.mode == "native":
        problems += _subscription_password(spec, rights.rolname)
    return out


def _subscription_password(spec: ChainConfig, role: str) -> list[str]:
    """A non-superuser's subscription must log in to B with a password (PostgreSQL >= 16 ``password_required``)."""
    from airflow.sdk import BaseHook

    try:
        password = BaseHook.get_connection(connection_id(spec.conn_b_subscription)).password
    except Exception:  # noqa: BLE001 - check_a names a connection that does not exist
        return []
    if password:
        return []
    return [f"connection {spec.conn_b_subscription} (C's subscription reads B with it) has no password, and the "
            f"subscription on C is owned by {role!r}, not a superuser: PostgreSQL 16 and later refuse it "
            "(password_required); give that connection the role's password"]
