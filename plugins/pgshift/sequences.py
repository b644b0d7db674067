"""Sequences: neither logical replication nor DMS moves them, so the cutover sets them on C from A."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgshift.hooks.postgres import PgShiftHook
    from pgshift.scope import Scope


def read_sequences(a: PgShiftHook, scope: Scope) -> list[dict[str, Any]]:
    """Sequences owned by a table in scope or in a schema in scope, with A's last value (None: never used)."""
    params = scope.query_params("public")
    return a.fetch("sequences_in_scope", {k: params[k] for k in ("all", "schemas", "tschemas", "tnames")})


def set_sequences(c: PgShiftHook, sequences: list[dict[str, Any]], *,
                  dry_run: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """setval on C for each sequence A has used; returns what was (or would be) set, and problems."""
    from pgshift.sql import qualified

    done: list[dict[str, Any]] = []
    problems: list[str] = []
    for s in sequences:
        name = f"{s['schema']}.{s['sequence']}"
        on_c = c.fetch_one("sequence_exists", (s["schema"], s["sequence"]))
        if on_c is None:
            problems.append(f"sequence {name} is on A but not on C")
            continue
        entry: dict[str, Any] = {"sequence": name, "a_last_value": s["last_value"], "c_before": on_c["last_value"]}
        if s["last_value"] is None:
            entry["action"] = "left alone: never used on A"
        elif dry_run:
            entry["action"] = f"would setval to {s['last_value']}"
        else:
            regclass = qualified(s["schema"], s["sequence"]).as_string(c.live)
            entry["c_after"] = c.scalar("sequence_setval", {"seq": regclass, "value": s["last_value"],
                                                            "schema": s["schema"], "name": s["sequence"]})
            entry["action"] = "set"
        done.append(entry)
    return done, problems
