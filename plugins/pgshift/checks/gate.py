"""The cutover gate: one reading of every figure that must be in bounds before A is fenced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgshift.checks.cdc_lag import check_cdc_lag
from pgshift.checks.dms import check_dms_task_running, find_task_arn
from pgshift.checks.result import CheckResult
from pgshift.checks.subscription import check_subscription_synced
from pgshift.checks.wal_lag import check_wal_lag


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


def _safely(name: str, func: Any, **kwargs: Any) -> CheckResult:
    try:
        return func(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a figure that cannot be read keeps the gate shut
        return CheckResult(False, f"{name}: could not read the figures: {type(exc).__name__}: {exc}".strip())


def gate_reading(spec: GateSpec) -> tuple[list[str], dict[str, Any]]:
    """Problems (empty: the gate is open) and the figures read, for the report."""
    readings = {
        "a_to_b": _safely("A->B lag", check_wal_lag, conn_a=spec.conn_a, conn_b=spec.conn_b,
                          physical_slot=spec.physical_slot, max_bytes=spec.wal_lag_max_bytes,
                          max_seconds=spec.wal_lag_max_seconds),
        "b_to_c": _safely("B->C lag", check_cdc_lag, conn_b=spec.conn_b, slot=spec.slot,
                          max_bytes=spec.cdc_lag_max_bytes),
    }
    if spec.mode == "native":
        readings["subscription"] = _safely("subscription", check_subscription_synced, conn_c=spec.conn_c,
                                           subscription=spec.subscription)
    else:
        arn = None
        try:
            arn = find_task_arn(spec.aws_conn_id, spec.dms_task_id or "")
        except Exception as exc:  # noqa: BLE001
            readings["dms"] = CheckResult(False, f"DMS: cannot read task {spec.dms_task_id!r}: {exc}")
        if arn:
            readings["dms"] = _safely("DMS", check_dms_task_running, aws_conn_id=spec.aws_conn_id, task_arn=arn)
        elif "dms" not in readings:
            readings["dms"] = CheckResult(False, f"DMS task {spec.dms_task_id!r} does not exist")
    problems = [r.message for r in readings.values() if not r.done]
    return problems, {k: {"ok": r.done, "message": r.message, **r.details} for k, r in readings.items()}
