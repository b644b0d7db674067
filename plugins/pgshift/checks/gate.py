"""The cutover gate: one reading of every figure that must be in bounds before A is fenced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgshift.checks.registry import run_check


@dataclass
class GateSpec:
    mode: str
    conn_a: str
    conn_b: str
    conn_c: str
    physical_slot: str
    slot: str
    subscription: str
    wal_lag_max_bytes: int
    wal_lag_max_seconds: float
    cdc_lag_max_bytes: int
    aws_conn_id: str | None = None
    dms_task_id: str | None = None


def gate_reading(spec: GateSpec) -> tuple[list[str], dict[str, Any]]:
    """Problems (empty: the gate is open) and the figures read, for the report.

    Each figure carries ``fatal`` (waiting cannot help: see :func:`fatal_problems`) and ``warning`` (in
    bounds, but worth saying: e.g. a past apply error the subscription recovered from). The checks are read
    in order and a fatal one ends the reading: the rest could only cost time (the subscription check takes
    a second sample seconds later when C has counted errors).
    """
    checks: list[tuple[str, str, dict[str, Any]]] = [
        ("a_to_b", "wal_lag", {"conn_a": spec.conn_a, "conn_b": spec.conn_b, "physical_slot": spec.physical_slot,
                               "max_bytes": spec.wal_lag_max_bytes, "max_seconds": spec.wal_lag_max_seconds}),
        ("b_to_c", "cdc_lag", {"conn_b": spec.conn_b, "slot": spec.slot, "max_bytes": spec.cdc_lag_max_bytes}),
    ]
    if spec.mode == "native":
        checks.append(("subscription", "subscription_synced", {"conn_c": spec.conn_c,
                                                                "subscription": spec.subscription}))
    else:
        checks.append(("dms", "dms_task", {"aws_conn_id": spec.aws_conn_id, "task_id": spec.dms_task_id or ""}))
    readings = {}
    for key, name, kwargs in checks:
        readings[key] = run_check(name, kwargs)
        if readings[key].fatal:
            break
    problems = [r.message for r in readings.values() if not r.done]
    return problems, {k: {"ok": r.done, "message": r.message, "fatal": r.fatal, "warning": r.warning, **r.details}
                      for k, r in readings.items()}


def fatal_problems(figures: dict[str, Any]) -> list[str]:
    """The messages of a reading's figures that waiting cannot fix (no slot on B, no or a disabled
    subscription, an invalidated slot, a failed DMS task...): the gate refuses at once on any."""
    return [f["message"] for f in figures.values() if f.get("fatal")]


def warnings(figures: dict[str, Any]) -> list[str]:
    """The messages of figures in bounds that are still worth a warning (e.g. a recovered apply error)."""
    return [f["message"] for f in figures.values() if f.get("ok") and f.get("warning")]
