"""Run a command or write a file on host B: over SSH (the ssh provider's SSHHook) or locally."""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # paramiko: loaded only when B is reached over SSH, not when a DAG is parsed
    from airflow.providers.ssh.hooks.ssh import SSHHook


@dataclass
class HostResult:
    returncode: int
    stdout: str
    stderr: str


def local_prefix(os_user: str | None) -> list[str]:
    """Run as ``os_user`` locally: PostgreSQL's binaries refuse root, and B's files belong to its user."""
    if not os_user:
        return []
    current = pwd.getpwuid(os.geteuid()).pw_name
    if os_user == current:
        return []
    if os.geteuid() == 0:
        return ["runuser", "-u", os_user, "--"]
    return ["sudo", "-n", "-u", os_user, "--"]


class HostB:
    """Where B's data directory lives. ``ssh_conn_id`` empty means this machine."""

    def __init__(self, ssh_conn_id: str | None, os_user: str | None = None) -> None:
        self.ssh_conn_id = ssh_conn_id or None
        self.os_user = os_user or None

    @property
    def where(self) -> str:
        return f"host B over SSH ({self.ssh_conn_id})" if self.ssh_conn_id else "host B (local)"

    def ssh_hook(self) -> SSHHook:
        from airflow.providers.ssh.hooks.ssh import SSHHook

        return SSHHook(ssh_conn_id=self.ssh_conn_id, conn_timeout=15)

    def run(self, argv: list[str], timeout: float = 60) -> HostResult:
        if self.ssh_conn_id:
            hook = self.ssh_hook()
            with hook.get_conn() as client:
                rc, out, err = hook.exec_ssh_client_command(client, shlex.join(argv), get_pty=False,
                                                            environment=None, timeout=timeout)
            return HostResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        proc = subprocess.run([*local_prefix(self.os_user), *argv], check=False, capture_output=True, text=True,
                              timeout=timeout)
        return HostResult(proc.returncode, proc.stdout, proc.stderr)

    def write_private_file(self, path: str, content: str) -> None:
        """Write ``content`` to ``path`` on B, mode 0600, owned by B's user; the content is never logged."""
        if self.ssh_conn_id:
            hook = self.ssh_hook()
            with hook.get_conn() as client:
                sftp = client.open_sftp()
                try:
                    with sftp.open(path, "w") as fh:
                        fh.chmod(0o600)
                        fh.write(content)
                finally:
                    sftp.close()
            return
        prefix = local_prefix(self.os_user)
        # Through the target user's own shell, so ownership is right without chown privileges.
        proc = subprocess.run([*prefix, "sh", "-c", 'umask 077 && cat > "$1"', "sh", path],
                              check=False, input=content, text=True, capture_output=True, timeout=30)
        if proc.returncode:
            raise RuntimeError(f"could not write {path} on {self.where}: {proc.stderr.strip()}")
