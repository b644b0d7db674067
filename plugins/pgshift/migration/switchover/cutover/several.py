"""The cutover of a chain of several databases (``databases``): one fence, one commit point, every database.

The runbook (:meth:`DatabaseSetCutover.cut_over`) is the single database's, with each step that is about a
database's rows taken once per database and each step that is about the server taken once:

1. **Plan, schemas, pre-verify, forecast, per database, before the fence.** Each database's tables are read from A's
   catalog, A's and C's schemas are compared (any database's difference refuses, every one named:
   :func:`~pgshift.migration.switchover.cutover.phases.refuse_drift`), and with ``verify=delta`` the rows are verified
   at frozen points of B (:class:`~pgshift.migration.verify.delta.DeltaCheck`,
   one per database, each with its own slot on B; B's replay is the server's, so the databases take their frozen
   points one after the other). Then every database takes its catch-up rounds at frozen points of B they share,
   so that every database's last frozen point is the same recent one when the fence comes. The forecast covers the set
   (:class:`SetForecast`) and refuses past ``max_write_downtime_seconds`` before anything is changed. In native
   mode each database's way back gets its publication and slot on C between the pre-verification and the shared
   catch-up, one database after the other
   (:meth:`~pgshift.migration.switchover.cutover.fallback_phases.FallbackPhases.prepare_fallback`), so that the
   time they take adds nothing to the rows to verify inside the fence; a refusal drops them.
2. **One fence** (:mod:`pgshift.migration.switchover.fence`): in the home database's session (the one ``conn_a``
   names, where the lease and the marker are), the application roles lose LOGIN once (roles are the server's),
   every migrated database defaults to read-only, the roles' sessions end in every database, one final LSN (the
   WAL is the server's).
3. **Drain per database**: each database's subscription (or DMS task) confirms the final LSN on its own slot on B;
   B's replay of it is the server's, so the first wait covers it for all.
4. **Access, during the drain** (A's catalog is still once it is fenced, and the drain changes no catalog on C):
   the roles once (they are the server's; which ones are needed is read in every database: its owners and
   grantees), then every database's privileges at once; the roles get LOGIN on C once, after the commit.
5. **Then each database's own chain, every database at once** (:meth:`DatabaseSetCutover.through_the_fence`):
   its verify (at most ``verify_parallelism`` databases verifying at a time; each one's comparison is itself
   parallel: both servers have the cores the fence leaves idle), materialized views, sequences, privilege parity
   and the login proof, and its way back armed (its subscription on A; in DMS mode its publication and slot on C
   first). No database waits for the others between two steps: the write downtime is the slowest database's
   chain, not the sum of each step's slowest (``bench/cutover.py --databases 3``).
6. **One commit point** (the marker in the home database, ``committed``, with the roles to give LOGIN on C). Any
   failure before it lifts the fence on every database (the record holds each one's earlier read-only default) and
   leaves C as it was: every database's way back armed so far is disarmed, and no subscription was touched.
7. **After it, every database is finalized** (:func:`finalize_database`: idempotent, so a retry may run it again),
   all at once; each finalized database is added to the marker's ``finalized`` as it is done (so ``finalized`` may
   lag behind C by the databases finalized in the instant the process died: their retry finds them done); then
   ``ready`` and LOGIN on C.

The steps of each database that touch only that database run for every database at once: each part has its own
sessions, and on this machine they are waits on commits and round trips more than work.

**If the process dies between finalizing two databases**: the marker says ``committed`` with ``finalized`` naming
the databases done. A stays fenced in every database: the fence watchdog never lifts a committed fence. The
databases finalized have no subscription left; the others still have theirs, which has nothing to apply (A is
fenced, so C equals A in each of them and stays so). The application can write nowhere: A's roles are NOLOGIN and
every database is read-only, and on C the roles get LOGIN only at the end. So nothing is half: the set is cut over,
not yet open. The task's retry (:func:`pgshift.migration.switchover.recovery.recover_interrupted_attempt` with
:func:`finish_committed`) finalizes the databases not yet finalized, marks the marker ``ready`` and gives LOGIN on
C: the job finished, not left to a person. A failure past the commit inside a live attempt (C refusing a DROP
SUBSCRIPTION) ends the same way: the fence is kept, the report says ``committed``, the retry finishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.config import Mode, Verify
from pgshift.migration.switchover.cutover.phases import CutoverRun, refuse_drift
from pgshift.migration.switchover.cutover.verify_phases import VerifyRefused
from pgshift.migration.switchover.database_set import DatabaseSet
from pgshift.migration.switchover.lease import COMMITTED, READY, FenceMarker, write_marker
from pgshift.migration.switchover.report import DatabaseReport
from pgshift.migration.switchover.results import Committed, Plan, Ready
from pgshift.migration.switchover.runbook import SwitchoverAbort
from pgshift.migration.switchover.state import Event, FenceState, Outcome, iso
from pgshift.migration.verify.delta import OTHER_PHASES_SECONDS

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.checks.gate import GateSpec
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.switchover.cutover.fallback_phases import FallbackSpec
    from pgshift.migration.switchover.cutover.settings import CutoverSettings
    from pgshift.migration.verify.delta import Forecast


@dataclass(frozen=True)
class SetForecast:
    """The write downtime to expect for the set: the databases drain at once (every subscription applies while the
    others do), so the drain is the longest one's; the rows to verify inside the fence and the other per-database
    phases (sequences, privileges, login proof, finalize) are counted for every database, as if one after the
    other (the comparisons share the machine's cores however many run in parallel)."""

    each: dict[str, Forecast]

    @property
    def seconds(self) -> float:
        drain = max((f.drain_seconds for f in self.each.values()), default=0.0)
        rest = sum(f.seconds - f.drain_seconds for f in self.each.values())
        return round(drain + rest, 3)

    def describe(self) -> str:
        return (f"predicted write downtime {self.seconds:.3f} s for {len(self.each)} databases ("
                + "; ".join(f"{db}: {f.seconds:.3f} s" for db, f in self.each.items()) + ")")

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "databases": {db: f.seconds for db, f in self.each.items()},
                "other_seconds_each": OTHER_PHASES_SECONDS}


class DatabaseSetCutover(DatabaseSet[CutoverRun, DatabaseReport]):
    """One attempt of the cutover of several databases: ``home`` (the home database's run: the lease, the fence,
    the commit, the set's report) and ``parts`` (one :class:`CutoverRun` per migrated database, in ``databases``'
    order, each with its own sessions on A, B and C in that database and its own report section; a part never
    fences, it shares ``home``'s fence record); ``fallbacks``: each database's way back, in the same order."""

    def __init__(self, home: CutoverRun, parts: list[CutoverRun], fallbacks: list[FallbackSpec],
                 log: Logger) -> None:
        super().__init__(home, parts, log)
        self.fallbacks = fallbacks
        on_c_alone = threading.Lock()  # DMS mode: see FallbackPhases.on_c_alone
        for part in parts:
            part.on_c_alone = on_c_alone

    # -- the runbook
    def cut_over(self, gate: GateSpec, roles: list[str], schemas: list[str], tables: list[str]) -> Ready:
        """Every database from the fence to "C is ready"; before the commit any failure lifts the fence on every
        database, after it every database is finalized (see the module)."""
        home = self.home
        plans = self.each("plan", lambda p: p.plan(schemas, tables))
        try:
            refuse_drift(self.each("schema", lambda p, plan: p.check_schema(plan), plans))
            self.pre_verify(plans, before_catch_up=lambda: (
                # before the shared catch-up: the time they take is not added to the rows verified inside the fence
                self.each("way back", lambda p, spec: p.prepare_fallback(spec, plans[self.database(p)]),
                          self.fallbacks),
                self.each("privilege baseline", lambda p: p.load_baseline())))
            home.gate(gate)
            self.forecast()
            fenced = home.fence(roles, self.databases)
            for part in self.parts:
                part.fence_record = home.fence_record  # what sync_access reads: the roles the fence took LOGIN from
            self.each("prefetch", lambda p: p.prefetch(fenced.final_lsn))
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgshift-access") as beside:
                access = beside.submit(self.sync_access)  # A's catalog is still now: no need to wait for the drain
                try:
                    self.drain(fenced.final_lsn)
                finally:
                    wait([access])  # never roll back while C's roles are being changed
                access.result()
            self.through_the_fence(plans)
            home.login_roles = sorted({r for p in self.parts for r in p.login_roles})
            committed = home.commit(login_on_target=home.login_roles)
        except BaseException as exc:
            record = home.fence_record
            if record is None or record.state in (FenceState.FENCED, FenceState.COMMITTED):
                self.disarm_fallback()  # also what was prepared before the fence
            raise home.abort(exc) from exc
        try:
            return self.finish(committed)
        except BaseException as exc:
            raise self.stuck_after_commit(exc) from exc

    def rehearse(self, gate: GateSpec, schemas: list[str], tables: list[str]) -> Ready:
        """The dry run of the set: no fence, no finalize; every database drained to A's current position and
        previewed as a single database's dry run is (see :meth:`CutoverOperator._rehearse`)."""
        home = self.home
        plans = self.each("plan", lambda p: p.plan(schemas, tables))
        try:
            refuse_drift(self.each("schema", lambda p, plan: p.check_schema(plan), plans))
            self.pre_verify(plans)
            home.gate(gate)
            self.forecast()
            target = home.target()
            self.each("drain", lambda p: p.drain(target.lsn))
            self.each("access", lambda p: p.preview_access())
            if home.settings.verify == Verify.FULL:
                self.each("verify", lambda p, plan: p.verify_live(plan), plans)
            self.each("sequences", lambda p, plan: p.preview_sequences(plan), plans)
            self.each("login proof", lambda p: p.prove_login(preview=True))
            self.each("way back", lambda p, spec: p.preview_fallback(spec), self.fallbacks)
            return home.passed()
        except BaseException as exc:
            raise home.abort(exc) from exc

    def pre_verify(self, plans: dict[str, Plan], before_catch_up: Callable[[], object] | None = None) -> None:
        """Each database verified at frozen points of B, one after the other; then catch-up rounds of every
        database at once, at frozen points B shares for all of them (:meth:`catch_up_together`), so that every
        database's last frozen point is the same recent one at the fence: inside it, each database's slot on B
        decodes only the WAL written since (the server's WAL: each slot reads all of it). ``before_catch_up``: what
        the cutover does between the two (the way back's slots on C)."""
        self.each("pre-verification", lambda p: p.pre_verify(plans[self.database(p)]))
        if before_catch_up is not None:
            before_catch_up()
        if self.home.settings.verify == Verify.FULL:
            return
        try:
            self.catch_up_together()
        except Exception as exc:
            raise VerifyRefused(f"refused before the fence, A was not touched: {exc}") from exc
        for part in self.parts:
            part.verify_section().rows_verified_before_fence = part.delta_check().rows_verified_before_fence

    def catch_up_together(self) -> None:
        """Rounds of changed rows of every database at one frozen point of B (B's replay is the server's): B has
        replayed what A had written, B paused once, each database's round (its slot confirmed by C, its changed
        rows compared) at once, B resumed; until every database's round is small
        (:data:`~pgshift.migration.verify.delta.SMALL_ROUND_KEYS`) or
        :data:`~pgshift.migration.verify.delta.MAX_ROUNDS` were run; then each database's C backlog applied."""
        from pgshift.migration.verify.delta import MAX_ROUNDS, SMALL_ROUND_KEYS
        from pgshift.migration.verify.frozen import replay_paused

        first = self.parts[0]
        checks = [part.delta_check() for part in self.parts]
        for _ in range(MAX_ROUNDS):
            checks[0].wait_replayed(first.a, first.b)
            with replay_paused(first.b) as (_lsn, ours):
                for check in checks:
                    check.holding_shared = ours  # what on_kill resumes
                try:
                    rounds = self.at_once("catch-up", lambda p: p.delta_check().shared_round(p.b)).values()
                finally:
                    for check in checks:
                        check.holding_shared = False
            if all(r["keys"] <= SMALL_ROUND_KEYS for r in rounds):
                break
        for part, check in zip(self.parts, checks, strict=True):
            self._in(part, "catch-up", partial(check.settle, part.a, part.b))

    def forecast(self) -> SetForecast | None:
        """verify=delta: the set's write downtime to expect now; refused past ``max_write_downtime_seconds``."""
        if self.home.settings.verify == Verify.FULL:
            return None
        each = {}
        limit = self.home.settings.max_write_downtime
        for part in self.parts:
            f = each[self.database(part)] = part.delta_check().forecast()
            part.verify_section().forecast = f.as_dict()
        forecast = SetForecast(each)
        self.home.report.forecast = {**forecast.as_dict(), "max_write_downtime_seconds": limit}
        self.log.info("Forecast: %s", forecast.describe())
        if forecast.seconds > limit:
            raise VerifyRefused(f"refused before the fence, A was not touched: {forecast.describe()}, over "
                                f"max_write_downtime_seconds={limit:g}")
        return forecast

    def drain(self, lsn: str) -> None:
        """Each database's slot on B confirms A's final LSN (one after the other: they all apply meanwhile)."""
        replayed: list[float] = []
        for part in self.parts:
            part.drain_sessions = (self.home.a, self.home.c)  # the parts' own are syncing access meanwhile
            drained = self._in(part, "drain", partial(part.drain, lsn))
            fenced_at = self.home.fence_record.fenced_at if self.home.fence_record else None
            section = self.section(part)
            section.drain = {"slot": part.settings.slot, "lsn": lsn, "confirmed_at": iso(drained.confirmed_at),
                             "seconds_after_fence": round(drained.confirmed_at - fenced_at, 3) if fenced_at else None}
            if drained.replayed_at is not None:
                replayed.append(drained.replayed_at)
        if replayed:
            self.home.timeline.mark(Event.B_REPLAYED, min(replayed))
        self.home.timeline.mark(Event.DRAINED, time.time())

    def sync_access(self) -> None:
        """During the drain (A is fenced, its catalog still; the drain changes no catalog on C): the roles once
        (they are the server's: the union of every database's roles in scope, read in each database, with their
        settings in every database of the set), then every database's privileges at once. Each database's verify
        comes after it, so a table's FORCE ROW LEVEL SECURITY is the same on both sides when it is read."""
        from pgshift.migration.access.sync import migrate_roles, roles_of_databases

        first = self.parts[0]
        names = roles_of_databases([p.a for p in self.parts], first.settings.access)
        roles = migrate_roles(first.a, first.c, first.settings.access, names=names,
                              databases=list(self.databases))
        self.at_once("access", lambda p: p.sync_access(roles))
        self.home.timeline.mark(Event.ACCESS_SYNCED, time.time())

    def through_the_fence(self, plans: dict[str, Plan]) -> None:
        """Each database from its verify to its way back, every database at once, each at its own pace:
        verify (at most ``verify_parallelism`` databases verifying at a time), materialized views,
        sequences, privilege parity and the login proof, the way back. No database waits for the others between
        two steps (the downtime is the slowest database's chain, not the sum of each step's slowest). Every
        database is verified before the first failure is raised (naming its database, in ``databases``' order),
        so the report has them all; once one has failed, no other arms its way back. The home timeline gets each
        step when the last database has passed it."""
        reached: dict[Event, float] = {}
        noted = threading.Lock()
        verifying = threading.BoundedSemaphore(max(1, int(self.home.settings.parallelism)))
        failed = threading.Event()

        def passed(event: Event) -> None:
            with noted:
                reached[event] = time.time()  # the last database to pass it sets it

        def verify(part: CutoverRun, plan: Plan) -> None:
            with verifying:
                part.verify(plan)

        def chain(part: CutoverRun) -> None:
            plan = plans[self.database(part)]
            try:
                self._in(part, "verify", partial(verify, part, plan))
                passed(Event.VERIFIED)
                self._in(part, "materialized views", partial(part.refresh_materialized_views, plan))
                self._in(part, "sequences", partial(part.set_sequences, plan))
                passed(Event.SEQUENCES_SET)
                self._in(part, "privilege parity", part.verify_access)
                passed(Event.ACCESS_VERIFIED)
                self._in(part, "login proof", part.prove_login)
                passed(Event.LOGIN_PROVEN)
                if failed.is_set():
                    return  # the cutover rolls back: nothing more to make and drop
                self._in(part, "way back", partial(part.arm_fallback, self.fallbacks[self.parts.index(part)], plan))
                passed(Event.FALLBACK_ARMED)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(max_workers=len(self.parts), thread_name_prefix="pgshift-db") as pool:
            futures = [pool.submit(chain, part) for part in self.parts]
            failures = [exc for f in futures if (exc := f.exception()) is not None]
        if failures:
            raise failures[0]
        for event in sorted(reached, key=reached.__getitem__):
            self.home.timeline.mark(event, reached[event])

    def disarm_fallback(self) -> None:
        """On a rollback: drop the way back wherever it was armed (each part knows what it created)."""
        for part, spec in zip(self.parts, self.fallbacks, strict=True):
            part.disarm_fallback(spec)

    # -- past the commit point
    def finish(self, committed: Committed) -> Ready:
        """Every database finalized (each noted in the marker as it is done), then ``ready`` and LOGIN on C."""
        home = self.home
        marker = committed.marker
        todo = [p for p in self.parts if self.database(p) not in marker.finalized]
        failures: list[BaseException] = []
        # At once (each its own C session); the marker is written here, in this thread's session, as each is done.
        with ThreadPoolExecutor(max_workers=max(1, len(todo)), thread_name_prefix="pgshift-finalize") as pool:
            futures = {pool.submit(finalize_database, p.settings, p.c, self.log): p for p in todo}
            for future in as_completed(futures):
                part, database = futures[future], self.database(futures[future])
                if (exc := future.exception()) is not None:
                    failures.append(exc)
                    continue
                marker.finalized.append(database)
                write_marker(home.a, home.record().database, marker, COMMITTED, f"cutover finalized {database}")
                home.report.finalized = list(marker.finalized)
                part.timeline.mark(Event.FINALIZED, time.time())
                self.log.info("Database %s finalized: %s", database, future.result())
        if failures:
            raise failures[0]
        home.timeline.mark(Event.FINALIZED, time.time())
        home.settle(committed)
        home.open_login()
        return home.ready()

    def stuck_after_commit(self, exc: BaseException) -> AirflowFailException:
        """A failure past the commit point: A stays fenced in every database; the retry finishes (see the module)."""
        home = self.home
        home.report.status = Outcome.COMMITTED
        home.report.error = f"{type(exc).__name__}: {exc}"
        home.finish()
        finalized = ", ".join(home.report.finalized or []) or "none"
        return AirflowFailException(
            f"Cutover passed its commit point and then failed: {type(exc).__name__}: {exc}. A stays fenced in every "
            f"database ({', '.join(self.databases)}); finalized so far: {finalized}. "
            "Retry the task (or clear it): its recovery finalizes the other databases and opens LOGIN on C.")


def finalize_database(settings: CutoverSettings, c: TargetHook, log: Logger) -> str:
    """C becomes the primary of one database: its subscription dropped (native), or its DMS task stopped. Safe to
    run again: a subscription already gone, a task already stopped, is what a finalized database looks like."""
    if settings.mode == Mode.NATIVE:
        if c.subscription(settings.subscription) is None:
            return f"subscription {settings.subscription} already dropped"
        c.drop_subscription(settings.subscription)  # also drops its slot on B
        log.info("Dropped subscription %r on C (and its slot on B)", settings.subscription)
        return f"subscription {settings.subscription} dropped"
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    from pgshift.migration.checks.dms import find_task_arn

    arn = find_task_arn(settings.aws_conn_id, settings.dms_task_id or "")
    if not arn:
        raise SwitchoverAbort(f"DMS task {settings.dms_task_id!r} is gone: cannot stop it")
    hook = DmsHook(aws_conn_id=settings.aws_conn_id or None)  # type: ignore[no-untyped-call]
    status = hook.get_task_status(arn)
    if status in ("stopped", "stopping"):
        return f"DMS task {settings.dms_task_id} already {status}"
    hook.stop_replication_task(arn)  # type: ignore[no-untyped-call]
    log.info("Stopped DMS task %s", settings.dms_task_id)
    return f"DMS task {settings.dms_task_id} stopped"


def finish_committed(a: PrimaryHook, marker: FenceMarker, home: CutoverSettings, parts: list[CutoverSettings],
                     log: Logger) -> list[str]:
    """The recovery of an attempt that died past its commit point (``a``: the home database's session, holding the
    lease): finalize the databases the marker does not name as finalized, mark it ``ready``, give LOGIN on C to the
    roles the marker names. Returns what it did, one line per step."""
    from pgshift.migration.access.roles import set_login
    from pgshift.migration.hooks.target import TargetHook

    database = a.conn_params()["dbname"]
    a.session_read_write()  # a session opened on the fenced home database starts read-only
    done = []
    for part in parts:
        if part.database in marker.finalized:
            continue
        with TargetHook(part.conn_c) as c:
            done.append(f"{part.database}: {finalize_database(part, c, log)}")
        marker.finalized.append(part.database or "")
        write_marker(a, database, marker, COMMITTED, f"retry finalized {part.database}")
    if marker.state != READY:
        write_marker(a, database, marker, READY, "retry")
        done.append("marker ready")
    with TargetHook(home.conn_c) as c:
        set_login(c, marker.login_on_c, True)
    done.append(f"LOGIN on C for {', '.join(marker.login_on_c) or 'no role'}")
    return done

