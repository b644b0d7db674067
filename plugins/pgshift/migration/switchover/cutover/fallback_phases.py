"""The cutover's phases that arm the way back: reverse replication C -> A (see
:mod:`pgshift.migration.switchover.fallback`).

The way back is a publication on C for the migrated tables (by name: the tables the cutover verified), a pgoutput
slot on C (where the way back starts), and on A a subscription on that slot (``copy_data = false``: A equals C;
``origin = none``: only what is written on C itself comes back, never what B -> C applies until the finalize).

Where each part is made:

- **native mode**: :meth:`FallbackPhases.prepare_fallback` makes the publication and the slot on C *before the
  fence*, after the pre-verification (a chain of several databases: before its shared catch-up rounds, so that the
  rows changed while it waits are not added to those verified inside the fence), and
  :meth:`~FallbackPhases.arm_fallback` only the subscription on A, inside it. A slot made before the fence starts
  before C has A's last rows, and that is harmless: everything C receives until
  the finalize is applied by C's subscription, so it carries a replication origin, and ``origin = none`` keeps it
  from A. What is gained is the slot's creation out of the write downtime: a logical slot waits, when it is made,
  for every transaction running on C with a transaction id to end (its consistent point), and on a C that has
  just applied a burst of rows an autoanalyze is such a transaction (measured: 0.04 s for one slot on a quiet C,
  up to 0.5 s for three on a busy one, ``bench/cutover.py --databases 3``).
- **DMS mode**: DMS writes on C as an ordinary session, with no origin, so a slot made before the fence would send
  DMS's rows back to A; all three parts are made inside the fence, after the verify and the login proof, when
  nothing can write on C (A is fenced, the application roles still NOLOGIN on C).

Any failure before the commit rolls the cutover back, and :meth:`~FallbackPhases.disarm_fallback` drops what was
made, including what was prepared before the fence. An attempt killed before its commit (``SIGKILL``, a lost
worker) leaves the publication and the slot on C (and, killed after arming, the subscription on A): the next
attempt drops a publication and slot it can tell are an earlier attempt's (the publication carries
:data:`WAY_BACK_MARK`, the slot is inactive, A has no subscription of the name) and refuses on anything else of
those names, naming it.

A's fence sets the database's ``default_transaction_read_only``; the subscription's apply worker is not stopped by
it (logical replication applies rows through its own executor path, which does not check the transaction's
read-only state; tests/test_fallback.py proves C's writes arrive on a fenced A). So nothing is loosened on A for
it: a per-role ``default_transaction_read_only = off`` for the subscription owner (pgshift's role on A) would make
every session of that role on A writable while A is fenced, for no gain.

The slot on C is created (and, on a rollback, dropped) through ``conn_c_subscription``, the connection A's
subscription streams from C with, not through ``conn_c``: slot functions need REPLICATION (on Aurora, membership of
``rds_replication``), which the role A streams with must have anyway, and which Aurora's master user, pgshift's
``conn_c`` there, is created without (NOREPLICATION). So the way back needs no superuser on C on either kind of C.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgshift.migration.config import Mode
from pgshift.migration.switchover.report import WayBack
from pgshift.migration.switchover.results import Plan
from pgshift.migration.switchover.state import Event, Timeline

if TYPE_CHECKING:
    from airflow.sdk.types import Logger
    from psycopg2.sql import Composable

    from pgshift.migration.hooks.fallback import WayBackHook
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.switchover.report import CutoverReport


# The comment on the way back's publication: what tells a later attempt that it is an earlier one's leftover.
WAY_BACK_MARK = "pgshift: the way back of a cutover (C -> A)"


class FallbackArmError(Exception):
    """The way back could not be armed: the cutover rolls back."""


@dataclass(frozen=True)
class FallbackSpec:
    """The way back, from the DAG's params: whether to arm it, and the names of its objects."""

    enabled: bool
    publication: str  # on C
    subscription: str  # on A; its slot on C has the same name
    conn_c_subscription: str  # C as A reaches it: a role with REPLICATION (its URI becomes the conninfo)


@dataclass(frozen=True)
class FallbackArmed:
    start_lsn: str  # C's position at the slot's creation: every later write on C reaches A
    seconds: float


class FallbackPhases:
    """Mixed into :class:`pgshift.migration.switchover.cutover.phases.CutoverRun`, whose settings, report and log it
    uses."""

    settings: CutoverSettings
    report: CutoverReport
    timeline: Timeline
    log: Logger
    _armed: list[str]  # what this attempt created, to drop on a rollback: "publication", "slot", "subscription"
    _slot_lsn: str | None  # the slot's LSN when prepare_fallback made the publication and the slot before the fence
    # DMS mode, several databases arming at once inside the fence: a logical slot on C waits for every transaction
    # running on C when it is created to end (a consistent point), so the publications and slots are made one at a
    # time. (Native mode makes them before the fence, one database after the other.)
    on_c_alone: AbstractContextManager[Any] | None = None

    def prepare_fallback(self, spec: FallbackSpec, plan: Plan) -> None:
        """Native mode, before the fence: the publication and the slot on C (see the module); nothing in DMS mode or
        with the way back off. A failure here fails the attempt before A is touched."""
        from pgshift.migration.hooks.fallback import WayBackHook

        self._armed, self._slot_lsn = [], None
        if not spec.enabled or self.settings.mode != Mode.NATIVE:
            return
        started = time.monotonic()
        with WayBackHook(self.settings.conn_c) as c, WayBackHook(self.settings.conn_a) as a:
            left = self._leftovers(spec, c, a, clear=True)
            if left:
                raise FallbackArmError("cannot arm the way back: " + "; ".join(left))
            self._slot_lsn = self._publish_on_c(spec, plan, c)
        self.log.info("Way back prepared before the fence in %.3f s: publication %s and slot %s on C (from %s)",
                      time.monotonic() - started, spec.publication, spec.subscription, self._slot_lsn)

    def arm_fallback(self, spec: FallbackSpec, plan: Plan) -> FallbackArmed | None:
        """Inside the fence: the subscription on A (and first, unless :meth:`prepare_fallback` made them, the
        publication and the slot on C); None (and ``armed: false`` in the report) when off."""
        from pgshift.migration.hooks.base import MigrationHook
        from pgshift.migration.hooks.fallback import WayBackHook

        if not spec.enabled:
            self.report.fallback = WayBack(armed=False)
            return None
        started = time.monotonic()
        prepared = getattr(self, "_slot_lsn", None)
        if prepared is None:
            self._armed = []
        with WayBackHook(self.settings.conn_a) as a:
            a.session_read_write()  # a new session on a fenced A starts read-only
            if prepared is None:
                with WayBackHook(self.settings.conn_c) as c:
                    left = self._leftovers(spec, c, a, clear=True)
                    if left:
                        raise FallbackArmError("cannot arm the way back: " + "; ".join(left))
                    with self.on_c_alone or nullcontext():
                        start_lsn = self._publish_on_c(spec, plan, c)
            else:
                start_lsn = prepared
            conninfo = MigrationHook(spec.conn_c_subscription).libpq_dsn(application_name=spec.subscription)
            a.create_fallback_subscription(spec.subscription, spec.publication, conninfo, spec.subscription)
            self._armed.append("subscription")
        now = time.time()
        seconds = round(time.monotonic() - started, 3)
        self.timeline.mark(Event.FALLBACK_ARMED, now)
        way_back = self.report.fallback = WayBack(armed=True)
        way_back.publication = spec.publication
        way_back.slot = spec.subscription
        way_back.subscription = spec.subscription
        way_back.start_lsn = start_lsn
        way_back.armed_seconds = seconds
        way_back.slot_before_fence = prepared is not None
        self.log.info("Way back armed in %.3f s inside the fence: publication %s and slot %s on C (from %s%s), "
                      "subscription %s on A", seconds, spec.publication, spec.subscription, start_lsn,
                      ", made before the fence" if prepared is not None else "", spec.subscription)
        return FallbackArmed(start_lsn, seconds)

    def _publish_on_c(self, spec: FallbackSpec, plan: Plan, c: WayBackHook) -> str:
        """The publication and the slot on C (noted in ``_armed`` as each is made); returns the slot's LSN."""
        from psycopg2.errors import InsufficientPrivilege

        from pgshift.migration.hooks.fallback import WayBackHook

        c.create_publication(spec.publication, _migrated_tables(plan))
        self._armed.append("publication")
        c.comment_on_publication(spec.publication, WAY_BACK_MARK)
        with WayBackHook(spec.conn_c_subscription) as streamer:  # REPLICATION / rds_replication: see the module
            try:
                slot = streamer.create_pgoutput_slot(spec.subscription)
            except InsufficientPrivilege as exc:
                who = streamer.current_role()
                raise FallbackArmError(
                    f"connection {spec.conn_c_subscription!r} ({who}) may not create the way back's slot on "
                    f"C ({str(exc).strip()}): on Aurora GRANT rds_replication TO {who}; elsewhere ALTER ROLE "
                    f"{who} REPLICATION") from exc
        self._armed.append("slot")
        return slot.lsn

    def preview_fallback(self, spec: FallbackSpec) -> None:
        """The dry run's: what :meth:`arm_fallback` needs, checked, changing nothing: C can publish, the names are
        free, and the connection A would subscribe with logs in to C."""
        from pgshift.migration.hooks.fallback import WayBackHook
        from pgshift.migration.hooks.target import TargetHook

        if not spec.enabled:
            self.report.fallback = WayBack(armed=False)
            return
        with WayBackHook(self.settings.conn_c) as c, WayBackHook(self.settings.conn_a) as a:
            problems = self._leftovers(spec, c, a)
            wal_level = c.setting("wal_level")
            if wal_level != "logical":
                problems.append(f"C's wal_level is {wal_level}: C cannot publish (on Aurora set "
                                "rds.logical_replication = 1)")
        try:
            with TargetHook(spec.conn_c_subscription) as probe:
                probe.current_role()
        except Exception as exc:  # noqa: BLE001 - a bad connection is a finding of the dry run
            problems.append(f"connection {spec.conn_c_subscription!r} (C as A reaches it) does not log in to C: "
                            f"{type(exc).__name__}: {str(exc).strip()}")
        preview = self.report.fallback = WayBack(armed=False)
        preview.would_arm = not problems
        preview.problems = problems
        if problems:
            raise FallbackArmError("the way back could not be armed: " + "; ".join(problems))
        self.log.info("Way back: the cutover would arm publication %s and slot %s on C, subscription %s on A",
                      spec.publication, spec.subscription, spec.subscription)

    def _leftovers(self, spec: FallbackSpec, c: WayBackHook, a: WayBackHook, *, clear: bool = False) -> list[str]:
        """Objects of the way back's names already there: arming would fail on them. What an earlier attempt left
        when it was killed between making them and its commit (the publication carries :data:`WAY_BACK_MARK`, the
        slot is inactive, A has no subscription of the name: no way back in use) is not a problem: ``clear`` drops
        it (the cutover), otherwise it is only named in the log (the dry run)."""
        from pgshift.migration.hooks.fallback import WayBackHook

        publication = c.publication(spec.publication)
        slot = c.reverse_slot(spec.subscription)
        subscription = a.subscription(spec.subscription)
        earlier = (publication is not None or slot is not None) and subscription is None \
            and (publication is None or publication.comment == WAY_BACK_MARK) and (slot is None or not slot.active)
        if earlier:
            found = ", ".join(f"{what} {name}" for what, name, there in (
                ("publication", spec.publication, publication), ("slot", spec.subscription, slot)) if there)
            if not clear:
                self.log.info("The way back's %s on C, left by an earlier attempt, would be dropped first", found)
                return []
            if slot is not None:
                with WayBackHook(spec.conn_c_subscription) as streamer:
                    streamer.drop_slot(spec.subscription)
            c.drop_publication(spec.publication)
            self.log.warning("Dropped the way back's %s on C, left by an earlier attempt of the cutover", found)
            return []
        left = ([f"publication {spec.publication} on C"] if publication else []) \
            + ([f"slot {spec.subscription} on C"] if slot else []) \
            + ([f"subscription {spec.subscription} on A"] if subscription else [])
        return [f"{what} exists already; drop it or choose other fallback names" for what in left]

    def disarm_fallback(self, spec: FallbackSpec) -> None:
        """On a rollback: drop what :meth:`arm_fallback` created. Never raises (the rollback must go on)."""
        from pgshift.migration.hooks.fallback import WayBackHook

        armed = list(getattr(self, "_armed", []))
        if not armed:
            return
        try:
            with WayBackHook(self.settings.conn_c) as c, WayBackHook(self.settings.conn_a) as a:
                if "subscription" in armed:
                    a.session_read_write()
                    a.drop_subscription(spec.subscription)  # drops its slot on C too
                elif "slot" in armed:
                    with WayBackHook(spec.conn_c_subscription) as streamer:
                        streamer.drop_slot(spec.subscription)
                c.drop_publication(spec.publication)
            self._armed, self._slot_lsn = [], None
            self._way_back().disarmed = True
            self.log.warning("Way back disarmed: dropped %s", ", ".join(armed))
        except Exception as exc:  # noqa: BLE001 - lifting A's fence matters more; say what is left
            self._way_back().disarm_error = f"{type(exc).__name__}: {exc}"
            self.log.error("Could not drop the way back's objects (%s): drop subscription %s on A, slot %s and "
                           "publication %s on C by hand: %s", ", ".join(armed), spec.subscription, spec.subscription,
                           spec.publication, exc)

    def _way_back(self) -> WayBack:
        """The report's ``fallback`` (only the rollback's notes, if arming did not get as far as writing it)."""
        if self.report.fallback is None:
            self.report.fallback = WayBack()
        return self.report.fallback


def _migrated_tables(plan: Plan) -> Composable:
    """``TABLE a, TABLE b ...``: the tables the cutover verified, by name, not the scope's ``ALL TABLES`` or
    ``TABLES IN SCHEMA``: a table on C that A does not have (one created on C later, DMS's control tables) would
    stop A's apply worker with "target relation does not exist"."""
    from psycopg2 import sql

    if not plan.tables:
        raise FallbackArmError("cannot arm the way back: no table in scope")
    return sql.SQL(", ").join(sql.SQL("TABLE {}").format(sql.Identifier(schema, table))
                              for schema, table in plan.tables)
