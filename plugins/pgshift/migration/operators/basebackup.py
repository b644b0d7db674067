"""B from A: pg_basebackup -R -X stream through a physical slot, on host B (over SSH or locally).
The script and its run are :mod:`pgshift.common.operators.basebackup`'s; this module reads and prepares A and B."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.common.operators.basebackup import SCRIPT, BasebackupScriptOperator, script_text
from pgshift.migration.operators.configured import ConfiguredOperator

if TYPE_CHECKING:
    from pgshift.common.hooks.postgres import ConnParams

__all__ = ["SCRIPT", "BasebackupOperator", "script_text"]


class BasebackupOperator(ConfiguredOperator, BasebackupScriptOperator):
    """Make B a hot standby of A.

    Creates the physical slot on A if missing, writes the replication password to a 0600 passfile
    on B (``<data_dir>.pgpass``, kept: B's WAL receiver reads it on every reconnect), then runs
    ``pgshift/scripts/basebackup_standby.sh`` on B: over SSH as a detached remote job (the ssh
    provider's deferrable :class:`SSHRemoteJobOperator`, built when the task runs and given this task's
    deferral; pg_basebackup outlives SSHOperator's 10 s command timeout), or as a local subprocess when
    ``ssh_conn_id`` is empty. B gets ``hot_standby_feedback=on`` and ``primary_slot_name``, and is started.

    Idempotent: if B already streams from A on that slot, nothing is done and the log says so.
    A non-empty data directory is refused unless ``move_aside_data_dir`` is true.

    From the chain's configuration (``config``): ``conn_a``, ``conn_a_replication``, ``conn_b``,
    ``physical_slot_name``, ``b_data_dir``, ``b_bin_dir``, ``b_port``, ``ssh_conn_id``, ``b_os_user``,
    ``b_start_command``, ``move_aside_data_dir``, set on the script's attributes when the task runs. Task-specific:
    ``primary_host`` (A's address as B reaches it, if not the replication connection's), ``startup_timeout``, and
    the remote job's settings (:class:`~pgshift.common.operators.basebackup.BasebackupScriptOperator`).
    """

    template_fields: Sequence[str] = ConfiguredOperator.template_fields

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(conn_a="", conn_a_replication="", conn_b="", physical_slot="", data_dir="", bin_dir="",
                         **kwargs)

    def _configure(self) -> None:
        """The script's attributes from the rendered configuration, before it runs."""
        chain = self.chain
        self.conn_a, self.conn_a_replication, self.conn_b = chain.conn_a, chain.conn_a_replication, chain.conn_b
        self.physical_slot, self.data_dir, self.bin_dir = chain.physical_slot_name, chain.b_data_dir, chain.b_bin_dir
        self.port, self.ssh_conn_id, self.os_user = chain.b_port, chain.ssh_conn_id or "", chain.b_os_user
        self.start_command, self.move_aside_data_dir = chain.b_start_command, chain.move_aside_data_dir

    def execute(self, context: Context) -> dict[str, str]:
        self._configure()
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, str]:
        self._configure()
        return super().execute_complete(context, event)

    # -- state
    def _streaming(self) -> tuple[bool, str]:
        from pgshift.migration.checks.wal_lag import read_wal_lag

        try:
            figures = read_wal_lag(self.conn_a, self.conn_b, self.physical_slot)
        except Exception as exc:  # noqa: BLE001 - B not reachable yet is the normal first-run case
            return False, f"B not reachable ({type(exc).__name__})"
        a, b = figures["a"], figures["b"]
        ok = bool(a and a["active"] and b and b["in_recovery"] and b["status"] == "streaming"
                  and b["slot_name"] == self.physical_slot)
        return ok, f"B in_recovery={b and b['in_recovery']}, receiver={b and b['status']}, slot={b and b['slot_name']}"

    def _ensure_feedback(self) -> None:
        from pgshift.migration.hooks.standby import StandbyHook

        with StandbyHook(self.conn_b) as b:
            if b.setting("hot_standby_feedback") != "on":
                b.enable_hot_standby_feedback()
                b.reload_conf()
                self.log.warning("hot_standby_feedback was off on B: turned it on (ALTER SYSTEM + reload)")

    def _ensure_physical_slot(self) -> None:
        from pgshift.migration.hooks.primary import PrimaryHook

        with PrimaryHook(self.conn_a) as a:
            slot = a.physical_slot(self.physical_slot)
            if slot is None:
                a.create_physical_slot(self.physical_slot)
                self.log.info("Created physical slot %r on A", self.physical_slot)
            elif slot.slot_type != "physical":
                raise AirflowFailException(f"slot {self.physical_slot!r} on A is {slot.slot_type}, not physical")
            else:
                self.log.info("Physical slot %r already exists on A (active=%s)", self.physical_slot, slot.active)

    def _replication_login(self) -> ConnParams:
        """Where and as whom B's WAL receiver reaches A (the replication connection; with its password)."""
        from pgshift.migration.hooks.base import MigrationHook

        return MigrationHook(self.conn_a_replication).conn_params()
