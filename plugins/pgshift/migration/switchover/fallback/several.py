"""The fallback of a chain of several databases (``databases``): one fence of C, one commit point, every database
back on A at once.

The runbook (:meth:`DatabaseSetFallback.fall_back`) is the single database's
(:class:`~pgshift.migration.switchover.fallback.run.FallbackRun`), with each step that is about a database's rows
taken once per database and each step that is about the server taken once:

1. **Checks before C's fence** (nothing changed on a refusal): A is fenced by a finished cutover (A's marker, in
   A's home database, the one the unqualified ``conn_a`` names, ``ready``), and that fence covers every database of
   the chain; per database, the reverse subscription on A is there and enabled and its slot on C is there; C's
   roles are fenceable and no database of C is read-only already.
2. **The gate per database**: ``gate_readings`` readings in a row in which every database's C -> A lag is in
   bounds and its apply worker runs (the WAL is C's, one position; each database's slot confirms it on its own).
3. **One fence of C** (:mod:`pgshift.migration.switchover.fence`), in C's home database's session (the unqualified
   ``conn_c``, where the lease and C's marker are): the roles lose LOGIN once, every database defaults to read-only,
   the roles' sessions end in every database, one final LSN.
4. **Drain per database**: each database's subscription on A confirms C's final LSN on its slot.
5. **Verify C against A per database** (up to ``verify_parallelism`` databases at once; every one is judged before
   the first failure is raised, so the report has them all), then **privilege parity** and **sequences C -> A**
   per database.
6. **Each reverse subscription dropped**, one database after the other (each DROP also drops its slot on C).
7. **One commit point** (C's marker ``committed``). Any failure before it lifts C's fence on every database and
   leaves A fenced; the way back stays armed, except in the databases whose reverse subscription was dropped
   already, which the failure names (re-arm there by hand, as a single database's fallback says).
8. **A unfenced in every database at once**: A's marker names every database the cutover fenced with its earlier
   read-only default (:meth:`FenceRecord.from_marker`), and one transaction in A's home database restores them all
   and gives the roles LOGIN again. Then C's publications are dropped per database (a failure only warns: A is the
   primary) and the fallback is ``ready``.

**The dry run** fences nothing: per database it drains to C's current position, verifies while C takes writes,
checks privilege parity and previews the sequences.

**If the process dies between two steps**: before the commit, C's fence is lifted by the fence watchdog (the lease
on C's home database is gone) or by the task's retry
(:func:`pgshift.migration.switchover.recovery.recover_interrupted_attempt`, which lifts every database the marker
names); A stays fenced; the databases whose reverse subscription was dropped already have no way back left (the
retry's new fallback then refuses in its checks, naming them). Past the commit, nothing is lifted automatically, as
for a single database: C stays fenced in every database; if A's marker still says ``ready``, A was not unfenced yet
and the retry says what is left (lift A's fence by hand: every database its marker names); if A is unfenced, only
C's publications may be left, which ``finish`` or a DROP PUBLICATION removes. Decision: the retry does not finish a
committed fallback by itself (unlike the cutover's retry), because the one step that matters, unfencing A, must not
happen while anything could still write on C, and C's fence past the commit is exactly the state a person should
look at before A takes writes.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.checks.in_a_row import readings_in_a_row
from pgshift.migration.switchover.database_set import DatabaseSet
from pgshift.migration.switchover.fallback.run import GATE_REFUSAL, FallbackRun
from pgshift.migration.switchover.fence import FenceRecord, fence_problems
from pgshift.migration.switchover.lease import READY, read_marker
from pgshift.migration.switchover.report import DatabaseFallbackReport
from pgshift.migration.switchover.state import Event, iso

if TYPE_CHECKING:

    from pgshift.migration.switchover.fallback.run import FallbackPlan


class DatabaseSetFallback(DatabaseSet[FallbackRun, DatabaseFallbackReport]):
    """One attempt of the fallback of several databases: ``home`` (the run in the home databases of A and C: the
    lease, C's fence, the commit, A's unfence, the set's report) and ``parts`` (one
    :class:`~pgshift.migration.switchover.fallback.run.FallbackRun` per database, in ``databases``' order, each with
    its own sessions on A and C in that database and its own report section; a part never fences)."""

    # -- before C's fence: refusals change nothing
    def check(self, protected: dict[str, str]) -> list[str]:
        """A fenced by a finished cutover over every database, each database's way back armed and working, C's
        roles and databases fenceable; returns the roles to fence on C (see the module, step 1)."""
        home, problems = self.home, []
        marker = read_marker(home.a)
        if marker is None or marker.state != READY:
            problems.append("A is not fenced by a finished cutover (no pgshift.fence marker in state ready in A's "
                            f"home database): found {marker.state if marker else 'none'}")
        else:
            home.a_fence = FenceRecord.from_marker(home.a.conn_params()["dbname"], marker)
            unfenced = [db for db in self.databases if db not in home.a_fence.read_only_before()]
            if unfenced:
                problems.append(f"A's fence does not cover database(s) {', '.join(unfenced)}: the cutover did not "
                                "fence them, so A may have taken writes there since; take them out of databases")
        for part in self.parts:
            s, database = part.settings, self.database(part)
            sub = part.a.subscription(s.subscription)
            if sub is None:
                problems.append(f"database {database}: no subscription {s.subscription!r} on A: the cutover did "
                                "not arm the way back (or it was dropped)")
            elif not sub.enabled:
                problems.append(f"database {database}: subscription {s.subscription!r} on A is disabled: ALTER "
                                f"SUBSCRIPTION {s.subscription} ENABLE, and let it catch up")
            if part.c.reverse_slot(s.subscription) is None:
                problems.append(f"database {database}: no slot {s.subscription!r} on C: the way back is broken")
        roles = list(home.settings.app_roles) or (list(marker.roles) if marker else [])
        problems += fence_problems(home.c, roles, protected, server="C", databases=self.databases)
        if problems:
            raise AirflowFailException("Fallback refused before C's fence; nothing was changed:\n"
                                       + "\n".join(f"  - {p}" for p in problems))
        home.report.app_roles = roles
        return roles

    def plan(self) -> dict[str, FallbackPlan]:
        plans: dict[str, FallbackPlan] = self.each("plan", lambda p: p.plan())
        return plans

    def gate(self) -> None:
        """``readings`` readings in a row in which every database is in bounds, within ``window`` seconds."""
        def read(_: int) -> tuple[list[str], None]:
            problems: list[str] = []
            for part in self.parts:
                found, reading = part.gate_reading()
                part.report.gate = reading
                problems += [f"database {self.database(part)}: {p}" for p in found]
            self.home.report.gate = {db: self.parts[i].report.gate for i, db in enumerate(self.databases)}
            return problems, None

        s = self.home.settings
        readings_in_a_row(read, count=s.readings, window=s.window, interval=s.interval, refusal=GATE_REFUSAL,
                          log=self.log, name="Fallback gate", said=lambda _: "every database")

    # -- the runbook
    def fall_back(self, plans: dict[str, FallbackPlan], roles: list[str]) -> None:
        """Every database from C's fence to "A is ready"; any failure before A's unfence lifts C's fence on every
        database and leaves A fenced (the caller's ``home.abort``)."""
        home = self.home
        fenced = home.fence(roles, self.databases)
        self.drain(fenced.final_lsn)
        self.verify(plans)
        self.each("privilege parity", lambda p: p.verify_access(roles))
        home.timeline.mark(Event.ACCESS_VERIFIED, time.time())
        self.each("sequences", lambda p, plan: p.set_sequences(plan), plans)
        home.timeline.mark(Event.SEQUENCES_SET, time.time())
        self.drop_reverse()
        committed = home.commit()
        home.unfence_a(committed)  # every database A's marker names, in one transaction
        self.drop_publications()
        home.ready()

    def rehearse(self, plans: dict[str, FallbackPlan], roles: list[str]) -> None:
        """The dry run: no fence; each database drained to C's current position and verified while C takes
        writes."""
        self.each("drain", lambda p: p.drain(p.c.final_wal_lsn()))
        self.each("verify", lambda p, plan: p.verify_live(plan), plans)
        self.each("privilege parity", lambda p: p.verify_access(roles))
        self.each("sequences", lambda p, plan: p.set_sequences(plan, dry_run=True), plans)
        self.home.passed()

    def drain(self, lsn: str) -> None:
        """Each database's subscription on A confirms C's final LSN (one after the other: they all apply
        meanwhile)."""
        fenced_at = self.home.fence_record.fenced_at if self.home.fence_record else None
        for part in self.parts:
            drained = self._in(part, "drain", partial(part.drain, lsn))
            self.section(part).drain = {"slot": part.settings.subscription, "lsn": lsn,
                                 "confirmed_at": iso(drained.confirmed_at),
                                 "seconds_after_fence": round(drained.confirmed_at - fenced_at, 3) if fenced_at
                                 else None}
        self.home.timeline.mark(Event.DRAINED, time.time())

    def verify(self, plans: dict[str, FallbackPlan]) -> None:
        """C (fenced) against A, every database, up to ``verify_parallelism`` databases at once."""
        self.at_once("verify", lambda p: p.verify(plans[self.database(p)]), workers=int(self.home.settings.parallelism))
        self.home.timeline.mark(Event.VERIFIED, time.time())

    def drop_reverse(self) -> None:
        """Each database's reverse subscription dropped (its slot on C with it); the home run notes where, so that a
        failure before the commit names the databases that have no way back left."""
        for part in self.parts:
            self._in(part, "drop the reverse subscription", part.drop_reverse)
            self.home.reverse_dropped_in.append(self.database(part))
            self.home.timeline.mark(Event.REVERSE_DROPPED, time.time())

    def drop_publications(self) -> None:
        """C's publication in every database; what could not be dropped is named in the report (A is the primary
        already)."""
        leftovers: list[str] = []
        for part in self.parts:
            part.drop_publication()
            leftovers += [f"database {self.database(part)}: {x}" for x in part.report.leftovers or []]
        if leftovers:
            self.home.report.leftovers = leftovers
