"""Sequences: neither logical replication nor DMS moves them, so the cutover sets them on C from A."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.states import SequenceState
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope


def read_sequences(a: PrimaryHook, scope: Scope) -> list[SequenceState]:
    """Sequences owned by a table in scope or in a schema in scope, with A's last value (None: never used)."""
    return a.sequences(scope)


def set_sequences(c: TargetHook, sequences: list[SequenceState], *,
                  dry_run: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """setval on C for each sequence A has used; returns what was (or would be) set, and problems."""
    done: list[dict[str, Any]] = []
    problems: list[str] = []
    for s in sequences:
        name = f"{s.schema}.{s.sequence}"
        on_c = c.sequence_value(s.schema, s.sequence)
        if on_c is None:
            problems.append(f"sequence {name} is on A but not on C")
            continue
        entry: dict[str, Any] = {"sequence": name, "a_last_value": s.last_value, "c_before": on_c.last_value}
        if s.last_value is None:
            entry["action"] = "left alone: never used on A"
        elif dry_run:
            entry["action"] = f"would setval to {s.last_value}"
        else:
            entry["c_after"] = c.setval(s.schema, s.sequence, s.last_value)
            entry["action"] = "set"
        done.append(entry)
    return done, problems
