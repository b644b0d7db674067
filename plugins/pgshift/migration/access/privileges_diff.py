"""ACL arithmetic for :mod:`pgshift.migration.access.privileges`: items per grantee, the grants and revokes that turn
one ACL into
another, and an owner change as ALTER ... OWNER applies it to an ACL."""

from __future__ import annotations

from collections.abc import Iterable

from pgshift.migration.access.privileges_states import PRIVILEGES, AclItem

# (verb GRANT/REVOKE, privileges, grantee, option, readable text); option: WITH GRANT OPTION for a GRANT,
# GRANT OPTION FOR (the option only) for a REVOKE.
AclStep = tuple[str, tuple[str, ...], str, bool, str]


def _ordered(privileges: Iterable[str]) -> tuple[str, ...]:
    wanted = set(privileges)
    return tuple(p for p in PRIVILEGES if p in wanted)


def by_grantee(items: Iterable[AclItem]) -> dict[str, dict[str, bool]]:
    """grantee -> privilege -> grantable."""
    out: dict[str, dict[str, bool]] = {}
    for grantee, privilege, grantable in items:
        held = out.setdefault(grantee, {})
        held[privilege] = held.get(privilege, False) or grantable
    return out


def remap_owner(items: frozenset[AclItem], old: str, new: str) -> frozenset[AclItem]:
    """The ACL after ALTER ... OWNER TO ``new``: the old owner's items become the new owner's (merged)."""
    if old == new:
        return items
    merged = by_grantee((new if g == old else g, p, o) for g, p, o in items)
    return frozenset((g, p, o) for g, held in merged.items() for p, o in held.items())


def acl_steps(a: frozenset[AclItem], c: frozenset[AclItem]) -> list[AclStep]:
    """Per grantee: revoke what ``c`` has beyond ``a`` (ALL when the grantee has nothing in ``a``), revoke grant
    options ``a`` lacks, then grant what ``c`` lacks (WITH GRANT OPTION where ``a`` has it)."""
    a_by, c_by = by_grantee(a), by_grantee(c)
    steps: list[AclStep] = []
    for grantee in sorted({*a_by, *c_by}):
        want, have = a_by.get(grantee, {}), c_by.get(grantee, {})
        extra = _ordered(p for p in have if p not in want)
        if extra:
            privileges = ("ALL",) if not want else extra
            steps.append(("REVOKE", privileges, grantee, False, f"REVOKE {', '.join(privileges)} FROM {grantee}"))
        options_off = _ordered(p for p in have if p in want and have[p] and not want[p])
        if options_off:
            steps.append(("REVOKE", options_off, grantee, True,
                          f"REVOKE GRANT OPTION FOR {', '.join(options_off)} FROM {grantee}"))
        plain = _ordered(p for p in want if not want[p] and p not in have)
        if plain:
            steps.append(("GRANT", plain, grantee, False, f"GRANT {', '.join(plain)} TO {grantee}"))
        granted_on = _ordered(p for p in want if want[p] and not have.get(p, False))
        if granted_on:
            steps.append(("GRANT", granted_on, grantee, True,
                          f"GRANT {', '.join(granted_on)} TO {grantee} WITH GRANT OPTION"))
    return steps


def describe_items(grantee: str, held: dict[str, bool]) -> str:
    """``bob: SELECT, UPDATE with grant option`` or ``bob: nothing``."""
    if not held:
        return f"{grantee}: nothing"
    return f"{grantee}: " + ", ".join(p + (" with grant option" if held[p] else "") for p in _ordered(held))
