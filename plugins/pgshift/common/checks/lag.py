"""The verdict on a physical standby's WAL lag, from the figures of both ends: the migration's A -> B wait
(:mod:`pgshift.migration.checks.wal_lag`) and a Citus clone's catch-up (:mod:`pgshift.citus.clone`) judge the same
way, so the rule lives here, where both domains may import it."""

from __future__ import annotations

from typing import Any

from pgshift.common.checks.result import CheckResult


def evaluate_wal_lag(figures: dict[str, Any], physical_slot: str, max_bytes: int, max_seconds: float) -> CheckResult:
    sender, receiver = figures["a"], figures["b"]
    problems: list[str] = []
    if sender is None:
        problems.append(f"A has no physical replication slot {physical_slot!r}")
    elif not sender["active"]:
        problems.append(f"no walsender on A is using slot {physical_slot!r} (B is not connected)")
    elif sender["state"] != "streaming":
        problems.append(f"A's walsender for {physical_slot!r} is in state {sender['state']!r}, not streaming")
    if receiver is None or not receiver["in_recovery"]:
        problems.append("B is not in recovery: it is not a standby")
    elif receiver["status"] is None:
        problems.append("B's WAL receiver is not running")
    elif receiver["status"] != "streaming":
        problems.append(f"B's WAL receiver is {receiver['status']!r}, not streaming")
    elif receiver["slot_name"] != physical_slot:
        problems.append(f"B streams through slot {receiver['slot_name']!r}, not {physical_slot!r}")

    lag_bytes = lag_seconds = None
    if not problems:
        lag_bytes = int(sender["lag_bytes"])
        if sender["replay_lag_s"] is not None:
            lag_seconds = float(sender["replay_lag_s"])
        elif lag_bytes == 0:
            # replay_lag is NULL once A has been idle; only LSN equality proves there is no lag.
            lag_seconds = 0.0
        else:
            problems.append(f"replay lag in seconds is unknown (NULL) with {lag_bytes} bytes not yet replayed")
    if lag_bytes is not None and lag_bytes > max_bytes:
        problems.append(f"A->B lag {lag_bytes} bytes is over the threshold of {max_bytes} bytes")
    if lag_seconds is not None and lag_seconds > max_seconds:
        problems.append(f"A->B replay lag {lag_seconds:.3f} s is over the threshold of {max_seconds} s")
    details = {"lag_bytes": lag_bytes, "lag_seconds": lag_seconds,
               "a_current_lsn": sender and sender["current_lsn"], "b_replay_lsn": receiver and receiver["replay_lsn"],
               "b_receiver_status": receiver and receiver["status"]}
    if problems:
        # Waiting cannot bring back a dropped slot or demote a promoted B: fail (the gate: refuse) at once.
        fatal = sender is None or (receiver is not None and not receiver["in_recovery"])
        return CheckResult(False, "; ".join(problems), details, fatal=fatal)
    return CheckResult(True, f"B streams from A on slot {physical_slot!r}: lag {lag_bytes} bytes, "
                             f"{lag_seconds:.3f} s", details)
