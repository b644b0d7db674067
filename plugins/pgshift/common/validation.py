"""Input checks that run before anything is changed. Each returns a problem sentence or None."""

from __future__ import annotations

import re
from collections.abc import Iterable

# PostgreSQL's own rule for replication slot names (ReplicationSlotValidateName).
SLOT_NAME = re.compile(r"^[a-z0-9_]{1,63}$")
MAX_IDENTIFIER_BYTES = 63


def slot_name_problem(name: object, what: str) -> str | None:
    if not isinstance(name, str) or not SLOT_NAME.match(name):
        return (f"{what} {name!r} is not a valid replication slot name: use 1 to 63 lower-case letters, "
                "digits and underscores")
    return None


def identifier_problem(name: object, what: str) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return f"{what} must be a non-empty name"
    if "\x00" in name:
        return f"{what} {name!r} contains a NUL byte"
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        return f"{what} {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes"
    return None


def parse_table(spec: str) -> tuple[str, str]:
    """``schema.table`` or ``table`` (schema public); double quotes keep dots and case."""
    parts = re.findall(r'"((?:[^"]|"")+)"|([^."]+)', spec.strip())
    names = [q.replace('""', '"') if q else u for q, u in parts]
    rebuilt = ".".join(f'"{n}"' if q else n for n, (q, _) in zip(names, parts, strict=True))
    if not names or len(names) > 2 or rebuilt.replace('""', '"') != spec.strip().replace('""', '"'):
        raise ValueError(f"table {spec!r} is not of the form schema.table")
    return ("public", names[0]) if len(names) == 1 else (names[0], names[1])


def table_list_problems(tables: Iterable[object], what: str = "tables") -> list[str]:
    problems = []
    for spec in tables or []:
        if not isinstance(spec, str):
            problems.append(f"{what}: {spec!r} is not a table name")
            continue
        try:
            for part in parse_table(spec):
                problem = identifier_problem(part, f"{what}: {spec!r}")
                if problem:
                    problems.append(problem)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def positive_problem(value: object, what: str, allow_zero: bool = False) -> str | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"{what} must be a number, got {value!r}"
    if number < 0 or (number == 0 and not allow_zero):
        return f"{what} must be {'zero or more' if allow_zero else 'greater than zero'}, got {value!r}"
    return None
