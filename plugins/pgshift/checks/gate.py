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
    """Problems (empty: the gate is open) and the figures read, for the report."""
    readings = {
        "a_to_b": run_check("wal_lag", {"conn_a": spec.conn_a, "conn_b": spec.conn_b,
                                        "physical_slot": spec.physical_slot, "max_bytes": spec.wal_lag_max_bytes,
                                        "max_seconds": spec.wal_lag_max_seconds}),
        "b_to_c": run_check("cdc_lag", {"conn_b": spec.conn_b, "slot": spec.slot,
                                        "max_bytes": spec.cdc_lag_max_bytes}),
    }
    if spec.mode == "native":
        readings["subscription"] = run_check("subscription_synced", {"conn_c": spec.conn_c,
                                                                     "subscription": spec.subscription})
    else:
        readings["dms"] = run_check("dms_task", {"aws_conn_id": spec.aws_conn_id, "task_id": spec.dms_task_id or ""})
    problems = [r.message for r in readings.values() if not r.done]
    return problems, {k: {"ok": r.done, "message": r.message, **r.details} for k, r in readings.items()}
