"""A setup over several databases (``databases``): what is done per database and what once for the server.

Per database, in :meth:`~pgshift.migration.config.ChainConfig.database_chains`' order, each with that database's
part of the chain (connections qualified ``pgshift_a/billing``, names ``pgshift_pub_billing``): the publication on
A, the logical slot on B, the database on C (created when absent), the schema and privileges there, the
subscription (or DMS endpoints and task). Once for the server: the basebackup (it carries every database), A -> B's
lag, the roles (cluster-wide: the union of every database's roles in scope, migrated in one plan), the DMS
replication instance.

A chain with an empty ``databases`` is one part, itself: every message reads as it always did; with named
databases each message about a part names its database (:func:`about`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgshift.common.connections import connection_id

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig


def about(part: ChainConfig, text: str) -> str:
    """``text`` about one database's part, prefixed with ``database <name>:`` when the chain names its databases."""
    return f"database {part.database}: {text}" if part.database else text


def database_on_c(part: ChainConfig) -> bool:
    """Whether C has the part's database (a chain with an empty ``databases``: conn_c's own, which must exist).

    Read through conn_c's own database (the plain connection id), which a chain of named databases needs on C
    anyway for its cluster-wide work (roles); on Aurora that is ``postgres`` or the database the cluster was made
    with."""
    from pgshift.migration.hooks.target import TargetHook

    if part.database is None:
        return True
    with TargetHook(connection_id(part.conn_c)) as c:
        return c.database_exists(part.database)


def ensure_database_on_c(part: ChainConfig) -> tuple[bool, str | None]:
    """Create the part's database on C when it is absent, as conn_c's role (CREATEDB, which Aurora's master user
    has; the preflight names the grant otherwise), which owns it. Returns whether it was created, and the role it
    was then handed to (None: conn_c's role keeps it).

    Handed to A's owner of that database when C has that role (task ``migrate_roles`` made it, before this) and it
    is not conn_c's own: a database's owner is ``pg_database_owner`` there, so it holds ``public`` (PostgreSQL 15
    and later) and may create in it, and the schema copy's ``ALTER TABLE … OWNER TO`` an application role that owns
    its database on A needs exactly that on C (PostgreSQL checks the new owner's CREATE on the schema; only a
    superuser C, not Aurora, skips the check). conn_c's role stays a member of that role (task ``migrate_roles``
    makes it one on a non-superuser C, WITH SET and INHERIT), so it still acts as the owner: the fallback's fence
    on the database, CREATE SUBSCRIPTION. A database whose owner on A is not on C (a superuser of A's own) stays
    conn_c's role's.

    Created from template0 with A's database's encoding, LC_COLLATE, LC_CTYPE and locale provider (and ICU or
    builtin locale), as a DBA would: C's defaults (template1's) could sort text differently, and an index that
    orders differently on C than on A is a different application. :func:`locale_problem`, run for every database
    before the first is created, refuses a locale C cannot use."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook

    if part.database is None:
        return False, None
    with TargetHook(connection_id(part.conn_c)) as c:
        if c.database_exists(part.database):
            return False, None
        with PrimaryHook(part.conn_a) as a:
            owner = a.database_owner()
            like = a.database_locale(part.database)
        if like is None:
            raise ValueError(f"database {part.database!r} is not on A (any more)")
        c.create_database(part.database, like)
        if owner == c.current_role() or not c.role_present(owner):
            return True, None
        c.set_database_owner(part.database, owner)
    return True, owner


def locale_problem(part: ChainConfig) -> str | None:
    """Why C's copy of the part's database would not be as A's, naming the database (None: it would, or the chain
    has an empty ``databases``): a database C lacks whose encoding and locale C cannot create (a libc locale its
    operating system lacks, a provider its version lacks); one C has in another encoding than A's (the copy and
    replication would convert every text, and refuse a character C's encoding lacks). Read before anything is
    created; a locale C lacks is checked by making a collation of it in pg_temp, rolled back."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook

    if part.database is None:
        return None
    with PrimaryHook(part.conn_a) as a:
        like = a.database_locale(part.database)
    if like is None:
        return None  # the database check names a database A lacks
    with TargetHook(connection_id(part.conn_c)) as c:
        have = c.database_locale(part.database)
        if have is None:
            refused = c.locale_refused(like)
            if refused is None:
                return None
            return (f"database {part.database}: C cannot create it as A has it ({like.describe()}): {refused}. "
                    "Install that locale on C's host (or use a C of A's major version), or create the database "
                    "on C yourself, owned by the role of connection " + connection_id(part.conn_c))
    if have.encoding != like.encoding:
        return (f"database {part.database}: encoding {have.encoding} on C, {like.encoding} on A: every text "
                "would be converted, and a character C's encoding lacks refused; drop the database on C (setup "
                f"creates it as A has it: {like.describe()}), or recreate it in {like.encoding}")
    return None
