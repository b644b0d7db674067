"""A standby from its source: pg_basebackup -R -X stream through a physical slot, on the standby's host (over SSH or
locally). What both domains share; each says which servers."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from importlib.resources import files
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from pgshift.common.hooks.host import HostB, local_prefix

if TYPE_CHECKING:
    # The ssh provider loads paramiko and asyncssh, MigrationHook psycopg2: imported where the task runs,
    # not each time the dag-processor parses the DAG.
    from airflow.providers.ssh.operators.ssh_remote_job import SSHRemoteJobOperator

    from pgshift.common.hooks.postgres import ConnParams

SCRIPT = "basebackup_standby.sh"


def script_text() -> str:
    """The script run on host B, shipped in the package (``pgshift/scripts/``)."""
    return files("pgshift").joinpath("scripts", SCRIPT).read_text(encoding="utf-8")


def _pgpass_field(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


class BasebackupScriptOperator(BaseOperator):
    """A physical standby made with pgshift's basebackup script (``pgshift/scripts/basebackup_standby.sh``), on
    its host over SSH or locally. The domains say which servers and implement the four readings under "state":
    the migration's ``BasebackupOperator`` (B from A) and Citus's ``CitusCloneBasebackupOperator`` (a clone
    from its worker); this class runs the script."""

    template_fields: Sequence[str] = (
        "conn_a", "conn_a_replication", "conn_b", "physical_slot", "data_dir", "bin_dir", "port",
        "ssh_conn_id", "os_user", "start_command", "move_aside_data_dir",
    )

    def __init__(self, *, conn_a: str, conn_a_replication: str, conn_b: str, physical_slot: str,
                 data_dir: str, bin_dir: str, port: int | str = 5432, ssh_conn_id: str | None = None,
                 os_user: str | None = None, start_command: str | None = None,
                 move_aside_data_dir: bool = False, primary_host: str | None = None,
                 startup_timeout: float = 120, poll_interval: int = 2, timeout: int | None = None,
                 cleanup: Literal["never", "on_success", "always"] = "on_success",
                 remote_base_dir: str | None = None, conn_timeout: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ssh_conn_id = ssh_conn_id or ""
        # The remote job's settings (see SSHRemoteJobOperator): ``timeout`` bounds the whole deferred wait.
        self.poll_interval, self.timeout, self.cleanup = poll_interval, timeout, cleanup
        self.remote_base_dir, self.conn_timeout = remote_base_dir, conn_timeout
        self._job: SSHRemoteJobOperator | None = None
        self.conn_a, self.conn_a_replication, self.conn_b = conn_a, conn_a_replication, conn_b
        self.physical_slot, self.data_dir, self.bin_dir, self.port = physical_slot, data_dir, bin_dir, port
        self.os_user, self.start_command, self.move_aside_data_dir = os_user, start_command, move_aside_data_dir
        self.primary_host, self.startup_timeout = primary_host, startup_timeout

    # -- state: what the subclass reads and prepares on its two servers
    def _streaming(self) -> tuple[bool, str]:
        """Whether the standby already streams from its source through the slot, and what was read."""
        raise NotImplementedError

    def _ensure_feedback(self) -> None:
        """hot_standby_feedback on, where the standby is already running."""
        raise NotImplementedError

    def _ensure_physical_slot(self) -> None:
        """The physical slot on the source, created if missing."""
        raise NotImplementedError

    def _replication_login(self) -> ConnParams:
        """Where and as whom the standby's WAL receiver reaches its source (with its password)."""
        raise NotImplementedError

    def _script_env(self, repl: ConnParams) -> dict[str, str]:
        return {
            "PGSHIFT_BIN_DIR": str(self.bin_dir), "PGSHIFT_DATA_DIR": str(self.data_dir),
            "PGSHIFT_PRIMARY_HOST": str(self.primary_host or repl["host"]),
            "PGSHIFT_PRIMARY_PORT": str(repl["port"]), "PGSHIFT_REPL_USER": str(repl["user"]),
            "PGSHIFT_SLOT": str(self.physical_slot), "PGSHIFT_PORT": str(self.port),
            "PGSHIFT_PASSFILE": self.passfile, "PGSHIFT_MOVE_ASIDE": str(bool(self.move_aside_data_dir)).lower(),
            "PGSHIFT_START_COMMAND": str(self.start_command or ""),
        }

    @property
    def passfile(self) -> str:
        return str(self.data_dir).rstrip("/") + ".pgpass"

    def _write_passfile(self, host: HostB, repl: ConnParams) -> None:
        line = ":".join(_pgpass_field(v) for v in
                        (self.primary_host or repl["host"], repl["port"], "*", repl["user"], repl["password"]))
        host.write_private_file(self.passfile, line + "\n")

    # -- run
    def execute(self, context: Context) -> dict[str, str]:
        streaming, state = self._streaming()
        if streaming:
            self._ensure_feedback()
            self.log.info("B already streams from A on slot %r (%s): nothing to do", self.physical_slot, state)
            return {"action": "none"}
        self.log.info("B is not a streaming standby of A yet (%s): taking a base backup", state)
        self._ensure_physical_slot()
        host = HostB(self.ssh_conn_id, self.os_user)
        repl = self._replication_login()
        self._write_passfile(host, repl)
        env = self._script_env(repl)
        if not self.ssh_conn_id:
            self._run_locally(env)
            return self._after_start()
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        # A subshell: the provider's wrapper appends `>> log 2>&1` to the command's last line only,
        # and an `exit` in the script must not skip the wrapper's exit-code file.
        self._job = self._remote_job("(\n" + exports + script_text() + "\n)")
        self._job.execute(context)  # submits the job, then defers this task (TaskDeferred) to execute_complete
        raise AirflowException("the SSH remote job did not defer")  # not reached: execute() always defers

    def _remote_job(self, command: str = "") -> SSHRemoteJobOperator:
        """The provider's operator that runs ``command`` on B and watches it; its ``defer`` raises the
        TaskDeferred that suspends this task, which resumes in :meth:`execute_complete`."""
        from airflow.providers.ssh.operators.ssh_remote_job import SSHRemoteJobOperator

        # The provider's default /tmp/airflow-ssh-jobs is shared by every SSH user of host B (and owned by
        # the first); the data directory's parent is B's user's own.
        base_dir = self.remote_base_dir or str(PurePosixPath(str(self.data_dir)).parent / "pgshift-ssh-jobs")
        return SSHRemoteJobOperator(task_id=self.task_id, ssh_conn_id=self.ssh_conn_id, command=command,
                                    remote_base_dir=base_dir, poll_interval=self.poll_interval,
                                    timeout=self.timeout, cleanup=self.cleanup, conn_timeout=self.conn_timeout,
                                    do_xcom_push=self.do_xcom_push)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, str]:
        if event and event.get("done") and event.get("log_file"):
            self._log_remote_output(event["log_file"])
        self._remote_job().execute_complete(context, event)  # re-defers while running; raises on failure
        return self._after_start()

    def on_kill(self) -> None:
        if self._job is not None:  # killed while submitting: the provider stops the remote process
            self._job.on_kill()

    def _log_remote_output(self, log_file: str) -> None:
        """The job's whole output, once, in the worker's task log: while it runs, the provider's trigger
        logs progress from the triggerer, and only the final chunk reaches the worker otherwise."""
        try:
            result = HostB(self.ssh_conn_id).run(["tail", "-c", "200000", log_file], timeout=60)
        except Exception as exc:  # noqa: BLE001 - the job's exit code still decides the outcome
            self.log.warning("Could not read B's job output %s: %s", log_file, exc)
            return
        for line in result.stdout.splitlines():
            if line.strip():
                self.log.info("[B] %s", line.rstrip())

    def _run_locally(self, env: dict[str, str]) -> None:
        # The script's text, not its path: B's OS user may not reach the checkout (root's 0700 home).
        argv = [*local_prefix(self.os_user), "env", *[f"{k}={v}" for k, v in env.items()],
                "bash", "-c", script_text(), SCRIPT]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ}, cwd="/")
        tail: list[str] = []
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                self.log.info("[B] %s", line)
                tail = [*tail, line][-20:]
        if proc.wait():
            raise AirflowException(f"basebackup on B failed (exit {proc.returncode}): " + " | ".join(tail[-5:]))

    def _after_start(self) -> dict[str, Any]:
        deadline = time.monotonic() + float(self.startup_timeout)
        while True:
            streaming, state = self._streaming()
            if streaming:
                self.log.info("B is a hot standby streaming from A on slot %r", self.physical_slot)
                return {"action": "basebackup"}
            if time.monotonic() > deadline:
                raise AirflowException(f"B started but does not stream from A on {self.physical_slot!r}: {state}")
            time.sleep(0.5)
