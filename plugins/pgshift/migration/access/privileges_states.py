"""What :mod:`pgshift.migration.access.privileges` reads and writes, without a database driver: the names of objects
and ACL
items, the catalog rows the hooks return, and the fixed keywords a grant or an ALTER may be composed from.

Keywords that cannot be bound as identifiers (privilege names, object kinds) reach a statement only from the
whitelists here; the hooks check them before composing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

ObjectKey: TypeAlias = tuple[str, str]  # (kind, identity): ("table", "public.orders"), ("schema", "public")
AclItem: TypeAlias = tuple[str, str, bool]  # (grantee or "PUBLIC", privilege, grantable)

PUBLIC = "PUBLIC"

# kind -> (ALTER ... OWNER TO keyword, GRANT ... ON keyword)
OBJECT_KINDS: dict[str, tuple[str, str]] = {
    "schema": ("SCHEMA", "SCHEMA"),
    "table": ("TABLE", "TABLE"),
    "view": ("VIEW", "TABLE"),
    "materialized view": ("MATERIALIZED VIEW", "TABLE"),
    "sequence": ("SEQUENCE", "SEQUENCE"),
    "function": ("FUNCTION", "FUNCTION"),
    "procedure": ("PROCEDURE", "PROCEDURE"),
    "aggregate": ("AGGREGATE", "FUNCTION"),
    "type": ("TYPE", "TYPE"),
    "domain": ("DOMAIN", "DOMAIN"),
}
ROUTINE_KINDS = frozenset({"function", "procedure", "aggregate"})

# In the order PostgreSQL lists them; "ALL" revokes everything a grantee holds on an object.
PRIVILEGES: tuple[str, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
                               "MAINTAIN", "EXECUTE", "USAGE", "CREATE", "ALL")
# ALTER DEFAULT PRIVILEGES ... ON <objtype>
DEFAULT_OBJTYPES = frozenset({"tables", "sequences", "functions", "types", "schemas"})
RLS_ACTIONS = frozenset({"ENABLE", "DISABLE", "FORCE", "NO FORCE"})


class ObjectName(NamedTuple):
    """Where an object is: schema ("" for a schema itself), name, and a routine's identity arguments."""

    schema: str
    name: str
    args: str | None = None


@dataclass(frozen=True)
class AccessObjectRow:
    """One migrated object (``access_objects.sql``). ACLs are lists of ``[grantee, privilege, grantable]``;
    ``column_acl`` maps a column with an ACL to its items."""

    kind: str
    schema: str | None
    name: str
    args: str | None
    identity: str
    owner: str
    acl: list[list[Any]]
    rls: bool | None
    force_rls: bool | None
    policies: list[str] | None
    column_acl: dict[str, list[list[Any]]] | None
    owned_by: str | None  # a sequence's owning table (serial/identity), as its identity


@dataclass(frozen=True)
class DefaultAclRow:
    """One ALTER DEFAULT PRIVILEGES entry (``access_default_acl.sql``); ``builtin`` is acldefault() for a global
    entry's role and object type (empty for a schema's entry)."""

    role: str
    schema: str
    objtype: str
    acl: list[list[Any]]
    builtin: list[list[Any]]


@dataclass(frozen=True)
class EffectiveRow:
    """A role's privileges held, as lines, and the pairs checked (``privilege_effective.sql``)."""

    role: str
    held: list[str]
    checked: int
