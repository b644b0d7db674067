"""The cutover gate: one reading of every figure that must be in bounds before A is fenced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgshift.common.checks.base import Check
from pgshift.common.checks.result import CheckResult
from pgshift.migration.checks.cdc_lag import CdcLagCheck
from pgshift.migration.checks.dms_task import DmsTaskCheck
from pgshift.migration.checks.subscription import SubscriptionSyncedCheck
from pgshift.migration.checks.wal_lag import WalLagCheck
from pgshift.migration.limits import ChainLimits

if TYPE_CHECKING:
    from pgshift.migration.config import ChainConfig


@dataclass(frozen=True)
class GateSpec:
    """What the gate reads, in order, each under the key its figures are reported by."""

    checks: tuple[tuple[str, Check], ...]

    @classmethod
    def of(cls, config: ChainConfig) -> GateSpec:
        """The gate of the chain ``config`` describes, with its limits (:meth:`ChainConfig.limits`)."""
        return cls.for_chain(mode=config.mode, conn_a=config.conn_a, conn_b=config.conn_b, conn_c=config.conn_c,
                             physical_slot=config.physical_slot_name, slot=config.slot_name,
                             subscription=config.subscription_name, limits=config.limits(),
                             aws_conn_id=config.aws_conn_id, dms_task_id=config.dms_task_id)

    @classmethod
    def for_chain(cls, *, mode: str, conn_a: str, conn_b: str, conn_c: str, physical_slot: str, slot: str,
                  subscription: str, limits: ChainLimits, aws_conn_id: str | None = None,
                  dms_task_id: str | None = None) -> GateSpec:
        """A -> B, B -> C, then the subscription on C (native) or the DMS task (dms)."""
        last: tuple[str, Check] = (
            ("subscription", SubscriptionSyncedCheck(conn_c=conn_c, subscription=subscription)) if mode == "native"
            else ("dms", DmsTaskCheck(aws_conn_id=aws_conn_id, task_id=dms_task_id or "")))
        return cls((
            ("a_to_b", WalLagCheck(conn_a=conn_a, conn_b=conn_b, physical_slot=physical_slot,
                                   max_bytes=limits.wal_lag_max_bytes, max_seconds=limits.wal_lag_max_seconds)),
            ("b_to_c", CdcLagCheck(conn_b=conn_b, slot=slot, max_bytes=limits.cdc_lag_max_bytes)),
            last,
        ))


def gate_reading(spec: GateSpec) -> tuple[list[str], dict[str, Any]]:
    """Problems (empty: the gate is open) and the figures read, for the report.

    Each figure carries ``fatal`` (waiting cannot help: see :func:`fatal_problems`) and ``warning`` (in
    bounds, but worth saying: e.g. a past apply error the subscription recovered from). The checks are read
    in order and a fatal one ends the reading: the rest could only cost time (the subscription check takes
    a second sample seconds later when C has counted errors).
    """
    readings: dict[str, CheckResult] = {}
    for key, check in spec.checks:
        readings[key] = check.read()
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
