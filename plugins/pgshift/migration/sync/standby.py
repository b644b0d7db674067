"""The setup's part: B made a synchronous standby of A once it streams, and its undoing by ``finish``.

B's walsender on A is found by its ``application_name``: the one B's ``primary_conninfo`` gives (pgshift's basebackup
script writes ``application_name=pgshift_b``); a B made otherwise, whose ``primary_conninfo`` names none, is given
the physical slot's name (``ALTER SYSTEM`` on B + reload: its WAL receiver reconnects with it), and the log says so.
Then, on A, ``ALTER SYSTEM SET synchronous_standby_names`` + ``pg_reload_conf()``, after the Variable
(:mod:`pgshift.migration.sync.settings`) that the guard and ``finish`` read is written, with A's earlier value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.connections import connection_id
from pgshift.migration.sync.settings import SyncSettings, standby_names

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.primary import PrimaryHook

GUARD_DAG = "hybrid_aurora_migration_sync_guard"


def rights_problem(a: PrimaryHook) -> str | None:
    """Why A's role may not set synchronous_standby_names (None: it may), naming what to grant."""
    rights = a.sync_rights()
    missing = [grant for ok, grant in (
        (rights.alter_system, "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO {role}"),
        (rights.reload, "GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {role}")) if not ok]
    if not missing:
        return None
    return (f"synchronous_standby: the role {rights.role} of connection conn_a may not make B synchronous: "
            "run on A as a superuser " + "; ".join(g.format(role=rights.role) for g in missing))


def application_name(chain: ChainConfig, log: Logger, timeout: float = 60) -> str:
    """The application_name B's WAL receiver reaches A with; set to the physical slot's name when B's
    primary_conninfo names none, then awaited on A."""
    from psycopg2.extensions import make_dsn, parse_dsn

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook

    with StandbyHook(connection_id(chain.conn_b)) as b:
        conninfo = b.setting("primary_conninfo")
        name = parse_dsn(conninfo).get("application_name")
        if name:
            return str(name)
        name = chain.physical_slot_name
        b.set_primary_conninfo(make_dsn(conninfo, application_name=name))
    log.warning("B's primary_conninfo named no application_name: set application_name=%s on B (ALTER SYSTEM + "
                "reload), so that A's synchronous_standby_names can name it", name)
    deadline = time.monotonic() + timeout
    with PrimaryHook(connection_id(chain.conn_a)) as a:
        while (sender := a.wal_sender(chain.physical_slot_name)) is None or sender.application_name != name:
            if time.monotonic() > deadline:
                raise AirflowFailException(f"B did not reconnect to A as {name} within {timeout:g} s")
            time.sleep(0.2)
    return name


def enable(chain: ChainConfig, earlier: SyncSettings | None, run_id: str, log: Logger,
           save: Callable[[SyncSettings], None], timeout: float = 60) -> SyncSettings:
    """Make B A's synchronous standby (idempotent); ``earlier`` is what a previous setup recorded, ``save`` records
    the new settings before A changes."""
    from pgshift.migration.hooks.primary import PrimaryHook

    conn_a = connection_id(chain.conn_a)
    with PrimaryHook(conn_a) as a:
        if problem := rights_problem(a):
            raise AirflowFailException(problem + "; nothing was changed")
        sender = a.wal_sender(chain.physical_slot_name)
        if sender is None or sender.state != "streaming":
            raise AirflowFailException(f"synchronous_standby: B does not stream from A through slot "
                                       f"{chain.physical_slot_name} (walsender {sender and sender.state}); nothing "
                                       "was changed")
    name = application_name(chain, log)
    names = standby_names(name)
    with PrimaryHook(conn_a) as a:
        current = a.setting("synchronous_standby_names")
        if earlier is not None and current in (names, earlier.previous):
            previous = earlier.previous
        elif current == names:
            previous = ""
            log.warning("A names B already and no earlier value is recorded: finish will set it to ''")
        else:
            previous = current
            if current:
                log.warning("A's synchronous_standby_names was %r: replaced by %s while the chain runs; the guard "
                            "falls back to it and finish restores it", current, names)
        settings = SyncSettings(conn_a=conn_a, standby=name, names=names, previous=previous,
                                fallback_seconds=chain.synchronous_fallback_seconds, set_by_run=run_id)
        save(settings)  # first: the guard must know before A's commits wait for B
        if current != names:
            a.set_synchronous_standby_names(names)
            log.info("A's synchronous_standby_names: %r -> %s (ALTER SYSTEM + pg_reload_conf())", current, names)
        else:
            log.info("A's synchronous_standby_names is %s already", names)
    with PrimaryHook(conn_a) as a:  # a new session reads the reloaded value
        deadline = time.monotonic() + timeout
        while (reading := a.sync_reading(name)).sync_state != "sync":
            if time.monotonic() > deadline:
                raise AirflowFailException(f"B ({name}) did not become A's synchronous standby within {timeout:g} s "
                                           f"(state {reading.state}, sync_state {reading.sync_state})")
            time.sleep(0.2)
            a.close()
    log.warning("B is A's synchronous standby: each commit on A waits for B's flush. If B goes away, A's writes "
                "wait until the guard (DAG %s, in the triggerer) sets synchronous_standby_names back to %r after "
                "%g s: that DAG must be unpaused (it is at its creation) and a triggerer must run",
                GUARD_DAG, previous, chain.synchronous_fallback_seconds)
    return settings


def restore(settings: SyncSettings) -> str:
    """A's synchronous_standby_names back to what it was before the setup; returns the value it had."""
    from pgshift.migration.hooks.primary import PrimaryHook

    with PrimaryHook(settings.conn_a) as a:
        current = a.setting("synchronous_standby_names")
        if current != settings.previous:
            a.set_synchronous_standby_names(settings.previous)
    return current
