"""The logical slot on the standby B, created with A's help and never left half-made."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pgshift.migration.config import SLOT_PLUGINS
from pgshift.migration.operators.configured import ConfiguredOperator
from pgshift.migration.setup.databases import about

if TYPE_CHECKING:  # psycopg2 and the postgres provider: imported where the task runs, not when the DAG is parsed
    from pgshift.migration.config import ChainConfig
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.standby import StandbyHook
    from pgshift.migration.hooks.states import SlotState

# The plugin per mode, by the mode's name; the provider's kept path pgshift.operators.slot re-exports it.
PLUGINS: dict[str, str] = {mode.value: plugin for mode, plugin in SLOT_PLUGINS.items()}



def wait_for_replay(a: PrimaryHook, b: StandbyHook, timeout: float, nudge_every: float = 0.5) -> str:
    """Wait until B has replayed A's current WAL position; returns that position."""
    target = a.current_wal_lsn()
    deadline = time.monotonic() + timeout
    while True:
        try:
            row = b.replay_reached(target)
        except LookupError as exc:
            raise AirflowException(str(exc)) from exc
        if row.reached:
            return target
        if time.monotonic() > deadline:
            raise AirflowException(f"B has not replayed A's WAL up to {target} within {timeout:.0f} s "
                                   f"(B is at {row.replay_lsn}): is B streaming from A?")
        time.sleep(nudge_every)


class LogicalSlotOperator(ConfiguredOperator):
    """Create (or reuse) logical slot ``slot_name`` on B with the mode's plugin
    (:attr:`~pgshift.migration.config.ChainConfig.slot_plugin`), waiting up to ``slot_create_timeout_seconds``;
    one per database of the chain, each created in its database on B (B's connection qualified with it: a
    logical slot belongs to one database) under that database's slot name.

    Creation on a standby waits for a running-xacts record from the primary, which an idle primary
    never writes: while it waits, this operator calls ``pg_log_standby_snapshot()`` on A. If it gives
    up, it cancels the call and drops the slot that would otherwise appear later as an orphan.
    An invalidated slot is an error that says what happened and what to do.

    Returns the slot's facts; for a chain of named databases, ``{"databases": {<database>: facts}}``.
    """

    def __init__(self, *, nudge_interval: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nudge_interval = nudge_interval

    @property
    def slot(self) -> str:
        return self.chain.slot_name

    @property
    def plugin(self) -> str:
        return self.chain.slot_plugin

    def execute(self, context: Context) -> dict[str, Any]:
        results = {part.database or "": self._ensure(part) for part in self.chain.database_chains()}
        if not self.chain.several_databases:
            return results[""]
        return {"databases": results}

    def _ensure(self, part: ChainConfig) -> dict[str, Any]:
        from pgshift.migration.hooks.primary import PrimaryHook
        from pgshift.migration.hooks.standby import StandbyHook

        with PrimaryHook(part.conn_a) as a, StandbyHook(part.conn_b) as b:
            existing = b.logical_slot(part.slot_name)
            if existing:
                return self._reuse(part, existing, b)
            wal_level = b.setting("wal_level")
            if wal_level != "logical":
                raise AirflowFailException(
                    f"B runs with wal_level={wal_level}; logical decoding on a standby needs wal_level=logical "
                    "on B (and on A): set it in postgresql.conf and restart")
            lsn = wait_for_replay(a, b, part.slot_create_timeout_seconds)
            self.log.info(about(part, "B has replayed A's WAL up to %s; creating slot %r (%s) on B"),
                          lsn, part.slot_name, part.slot_plugin)
            return self._create(part, a, b)

    def _reuse(self, part: ChainConfig, st: SlotState, b: StandbyHook) -> dict[str, Any]:
        from pgshift.migration.checks.cdc_lag import B_SLOT
        from pgshift.migration.checks.slot import slot_invalidation

        slot, plugin = part.slot_name, part.slot_plugin
        invalid = slot_invalidation(st, B_SLOT)
        if invalid:
            raise AirflowFailException(about(part, invalid))
        database = b.conn_params()["dbname"]
        if st.slot_type != "logical" or st.plugin != plugin or st.database != database:
            raise AirflowFailException(about(part,
                f"slot {slot!r} exists on B but is {st.slot_type} / plugin {st.plugin} / "
                f"database {st.database}, not logical / {plugin} / {database}: choose another slot name "
                "or drop that slot"))
        self.log.info(about(part, "Slot %r already exists on B and is healthy (wal_status=%s): reusing it"),
                      slot, st.wal_status)
        return {"slot": slot, "plugin": plugin, "created": False,
                "confirmed_flush_lsn": st.confirmed_flush_lsn}

    def _create(self, part: ChainConfig, a: PrimaryHook, b: StandbyHook) -> dict[str, Any]:
        from pgshift.migration.setup.standby_slot import SlotCreationError, create_on_standby

        slot, plugin = part.slot_name, part.slot_plugin
        started = time.monotonic()
        try:
            created, nudges = create_on_standby(a, b, slot, plugin, part.slot_create_timeout_seconds,
                                                self.nudge_interval)
        except SlotCreationError as exc:
            raise AirflowException(about(part, str(exc))) from exc
        self.log.info(about(part, "Created logical slot %r on B at %s in %.2f s (%d nudges of A)"),
                      slot, created.lsn, time.monotonic() - started, nudges)
        return {"slot": slot, "plugin": plugin, "created": True, "lsn": created.lsn}
