"""action=promote_b: A is lost, B (its hot standby) becomes the chain's source, and B -> C goes on.

What PostgreSQL does here was proved on the project's servers first (``tests/test_promote_b.py``, PostgreSQL 18.6):
a logical slot made on the standby B survives ``pg_promote()`` (not conflicting, its confirmed position where C
left it), and C's subscription reconnects to the promoted B by itself and goes on; every row B had replayed is on C.

The runbook, in :func:`promote_b`:

1. A's position, if A answers (:func:`a_position`). A that answers without ``confirm_promote_b`` is a refusal
   before anything changes: promoting B while A takes writes would split the chain in two.
2. B's position: received and replayed of A's WAL; the bytes of A's WAL B had not received are the data lost with A
   (unknown when A does not answer: then B's last received LSN is reported).
3. ``pg_promote(wait => true)``; a B already promoted (a retry) is said and the checks go on.
4. For every database of the chain: B's logical slot is there and valid, and its consumer (C's subscription, or
   DMS) confirms B's own position after the promotion, i.e. it streams from the promoted B; in native mode C's
   apply worker runs.

pgshift does not touch A here: a DBA who confirms the promotion while A answers takes on that A takes no more
writes (fence or stop it). The caller records the new source in the chain's record (the DAG's ``record_source_b``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg2
from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import Mode

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.states import SlotState

A_CONNECT_TIMEOUT = 5  # seconds: a lost A must not hold the promotion for libpq's default
PROMOTE_WAIT_SECONDS = 300  # the end of B's recovery replays what it received and not yet replayed


@dataclass
class PromotionReport:
    """What ``action=promote_b`` found and did (the report's JSON and the task's XCom)."""

    run_id: str
    started_at: str
    a_reachable: bool
    a_error: str | None = None  # why A did not answer (libpq's message: no password in it)
    a_lsn: str | None = None
    b_received_lsn: str | None = None
    b_replayed_lsn: str | None = None
    lost_bytes: int | None = None  # A's WAL B had not received; None: unknown (A did not answer)
    already_promoted: bool = False
    promoted_at: str | None = None
    b_lsn_after: str | None = None
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "running"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def loss_line(self) -> str:
        if self.already_promoted:
            return "B was already promoted by an earlier attempt: its loss figures are in the chain's record"
        if self.lost_bytes is None:
            return (f"A did not answer ({self.a_error}): how much of A's WAL B had not received is unknown; B had "
                    f"received up to {self.b_received_lsn} and replayed up to {self.b_replayed_lsn}")
        return (f"A's WAL B had not received: {self.lost_bytes} bytes (A at {self.a_lsn}, B received "
                f"{self.b_received_lsn}, replayed {self.b_replayed_lsn}): the data lost with A")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def a_position(conn_a: str) -> tuple[str | None, str | None]:
    """(A's current WAL position, None) when A answers; (None, libpq's first line) when a connect to it fails."""
    from pgshift.migration.hooks.primary import PrimaryHook

    try:
        with PrimaryHook(conn_a, connect_timeout=A_CONNECT_TIMEOUT) as a:
            return a.current_wal_lsn(), None
    except psycopg2.OperationalError as exc:
        return None, (str(exc).strip().splitlines() or ["connection failed"])[0]


def promote_b(chain: ChainConfig, run_id: str, log: Logger) -> PromotionReport:
    """The runbook (module docstring); raises AirflowFailException with what to do when a step cannot go on."""
    from pgshift.migration.hooks.standby import StandbyHook

    with StandbyHook(chain.conn_b) as b:
        before = b.promotion_position(None)
        report = PromotionReport(run_id=run_id, started_at=_now(), a_reachable=False)
        if not before.in_recovery:
            report.already_promoted = True
            log.info("B is not in recovery: it was promoted already (a retry); going on with the checks")
        else:
            a_lsn, report.a_error = a_position(chain.conn_a)
            report.a_reachable = a_lsn is not None
            if report.a_reachable and not chain.confirm_promote_b:
                raise AirflowFailException(
                    f"A answers (conn {chain.conn_a}, at WAL {a_lsn}): promoting B while A may take writes splits the "
                    "chain in two. Stop or fence A's writes, then trigger promote_b again with confirm_promote_b "
                    "true; nothing was changed")
            position = b.promotion_position(a_lsn)
            report.a_lsn, report.lost_bytes = a_lsn, position.unreceived_bytes
            report.b_received_lsn, report.b_replayed_lsn = position.received_lsn, position.replayed_lsn
            log.info("%s", report.loss_line())
            if not b.promote(PROMOTE_WAIT_SECONDS):
                raise AirflowFailException(f"B did not finish its promotion within {PROMOTE_WAIT_SECONDS} s: see B's "
                                           "log; a retry checks again")
            report.promoted_at = _now()
            log.info("B promoted at %s", report.promoted_at)
        after = b.promotion_position(None)
        report.b_lsn_after = after.current_lsn
    if after.in_recovery or after.current_lsn is None:
        raise AirflowFailException("B is still in recovery after pg_promote(): see B's log")
    for db_chain in chain.database_chains():
        report.databases[db_chain.database or ""] = check_chain_goes_on(db_chain, after.current_lsn, log)
    report.status = "promoted"
    return report


def check_chain_goes_on(chain: ChainConfig, b_lsn: str, log: Logger) -> dict[str, Any]:
    """B's logical slot of ``chain`` (one database) survived, and its consumer confirms ``b_lsn`` (B's position after
    its promotion): it streams from the promoted B. Waits up to ``drain_timeout_seconds``."""
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.target import TargetHook

    deadline = time.monotonic() + chain.drain_timeout_seconds
    with StandbyHook(chain.conn_b) as b:
        slot = _surviving_slot(b, chain.slot_name)
        native = chain.mode == Mode.NATIVE
        with TargetHook(chain.conn_c) as c:
            while True:
                slot = _surviving_slot(b, chain.slot_name, b_lsn)
                worker = c.apply_worker(chain.subscription_name) if native else None
                streaming = worker is not None and worker.apply_worker_pid is not None
                if slot.confirmed and (streaming or not native):
                    break
                if time.monotonic() > deadline:
                    raise AirflowFailException(
                        f"slot {chain.slot_name!r} on the promoted B is valid but its consumer did not confirm B's "
                        f"position {b_lsn} within {chain.drain_timeout_seconds:g} s (confirmed "
                        f"{slot.confirmed_flush_lsn}, active {slot.active}"
                        + (f", C's apply worker {'running' if streaming else 'not running'}" if native else "")
                        + "): check C's subscription (or the DMS task) and its log; a retry checks again")
                if native:
                    c.flush_wal()  # C confirms only what it has flushed (see pgshift.migration.switchover.drain)
                time.sleep(0.2)
    log.info("slot %s on B survived the promotion; its consumer confirmed B's position %s", chain.slot_name, b_lsn)
    return {"slot": chain.slot_name, "plugin": slot.plugin, "confirmed_flush_lsn": slot.confirmed_flush_lsn,
            "subscription": chain.subscription_name if native else None,
            "apply_worker_pid": worker.apply_worker_pid if worker else None}


def _surviving_slot(b: StandbyHook, name: str, lsn: str | None = None) -> SlotState:
    """Slot ``name`` on B read from B's own position (B is a primary now); gone or invalidated fails the task."""
    slot = b.slot_state(name, "current", lsn)
    if slot is None:
        raise AirflowFailException(f"logical slot {name!r} is not on the promoted B: C's chain cannot go on from B; "
                                   "set it up again from B (action=setup with B as conn_a)")
    if slot.conflicting or slot.invalidation_reason or slot.wal_status == "lost":
        raise AirflowFailException(f"logical slot {name!r} on the promoted B is invalidated (invalidation_reason="
                                   f"{slot.invalidation_reason}, wal_status={slot.wal_status}): C's chain cannot go "
                                   "on from B; set it up again from B")
    return slot
