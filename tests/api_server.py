"""A real ``airflow api-server`` on loopback for the tests: REST v2 and the UI, simple auth manager.

``--apps core`` serves the public API, the UI (the React app and its ``/ui`` API) and the simple auth
manager's login page (``/auth/login``); only the task Execution API is left out. No scheduler runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

USER = "pgshift_admin"
STARTUP_TIMEOUT = 180.0


@dataclass(frozen=True)
class ApiServer:
    client: httpx.Client  # base_url set, no proxy from the environment
    base_url: str
    user: str
    password: str
    home: Path  # AIRFLOW_HOME, where api-server.log and reserialize.log are

    def token_headers(self) -> dict[str, str]:
        """``POST /auth/token`` as the admin: the Authorization header for REST calls."""
        resp = self.client.post("/auth/token", json={"username": self.user, "password": self.password})
        assert resp.status_code in (200, 201), resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def require_dags(self, headers: dict[str, str], dag_ids: Iterable[str]) -> None:
        """Fail (with the import errors) unless every DAG is serialized."""
        for dag_id in dag_ids:
            if self.client.get(f"/api/v2/dags/{dag_id}", headers=headers).status_code == 404:
                errors = self.client.get("/api/v2/importErrors", headers=headers).json().get("import_errors", [])
                pytest.fail(f"{dag_id} is not serialized; import errors: "
                            f"{[e['stack_trace'][-800:] for e in errors]}\n{tail(self.home / 'reserialize.log')}",
                            pytrace=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no output)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group the child leads (it and anything it forked); SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/api/v2/monitor/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def running_api_server(airflow_home: Path) -> Iterator[ApiServer]:
    """Start ``airflow api-server`` on a free loopback port with one admin user; reserialize the DAGs meanwhile."""
    password = secrets.token_urlsafe(16)
    passwords_file = airflow_home / "api_passwords.json"
    passwords_file.write_text(json.dumps({USER: password}))
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
           # [api] host also feeds SimpleAuthManager's "looks like production" warning (default 0.0.0.0).
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port)}
    log_path, reser_path = airflow_home / "api-server.log", airflow_home / "reserialize.log"
    procs: list[subprocess.Popen[bytes]] = []
    client = httpx.Client(base_url=base_url, timeout=30, trust_env=False)
    try:
        # Both spend seconds importing; run them side by side (the server reads the DAG only per request).
        for argv, out in ((["dags", "reserialize"], reser_path),
                          (["api-server", "--host", "127.0.0.1", "--port", str(port), "--apps", "core",
                            "--workers", "1"], log_path)):
            with open(out, "wb") as out_file:
                procs.append(subprocess.Popen([sys.executable, "-m", "airflow", *argv], env=env,
                                              stdin=subprocess.DEVNULL, stdout=out_file, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        reserialize, server = procs
        assert reserialize.wait(STARTUP_TIMEOUT) == 0, f"dags reserialize failed:\n{tail(reser_path)}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(client):
            assert server.poll() is None, f"api-server exited {server.returncode}:\n{tail(log_path)}"
            assert time.monotonic() < deadline, f"api-server not healthy in {STARTUP_TIMEOUT} s:\n{tail(log_path)}"
            time.sleep(0.25)
        yield ApiServer(client, base_url, USER, password, airflow_home)
    finally:
        client.close()
        for proc in procs:
            _stop(proc)
