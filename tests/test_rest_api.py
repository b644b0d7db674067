"""Trigger hybrid_aurora_migration through a real ``airflow api-server`` (REST v2, simple auth manager).

No scheduler runs, so a triggered run stays queued: these tests cover the API contract only (auth, conf
round trip, and the DAG's Param schema refusing bad conf with 400 before any run exists).
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
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

DAG_ID = "hybrid_aurora_migration"
RUNS = f"/api/v2/dags/{DAG_ID}/dagRuns"
USER = "pgshift_admin"
STARTUP_TIMEOUT = 180.0
Api = tuple[httpx.Client, str]  # the server's client and the admin's password


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
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


@pytest.fixture(scope="module")
def api(airflow_db: Path) -> Iterator[Api]:
    """A running api-server on loopback and the admin's password; the DAG reserialized meanwhile."""
    password = secrets.token_urlsafe(16)
    passwords_file = airflow_db / "api_passwords.json"
    passwords_file.write_text(json.dumps({USER: password}))
    port = _free_port()
    env = {**os.environ, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
           # [api] host also feeds SimpleAuthManager's "looks like production" warning (default 0.0.0.0).
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port)}
    log_path, reser_path = airflow_db / "api-server.log", airflow_db / "reserialize.log"
    procs: list[subprocess.Popen[bytes]] = []
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
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
        assert reserialize.wait(STARTUP_TIMEOUT) == 0, f"dags reserialize failed:\n{_tail(reser_path)}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(client):
            assert server.poll() is None, f"api-server exited {server.returncode}:\n{_tail(log_path)}"
            assert time.monotonic() < deadline, f"api-server not healthy in {STARTUP_TIMEOUT} s:\n{_tail(log_path)}"
            time.sleep(0.25)
        yield client, password
    finally:
        client.close()
        for proc in procs:
            _stop(proc)


@pytest.fixture(scope="module")
def auth(api: Api, airflow_db: Path) -> dict[str, str]:
    client, password = api
    resp = client.post("/auth/token", json={"username": USER, "password": password})
    assert resp.status_code in (200, 201), resp.text
    headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    if client.get(f"/api/v2/dags/{DAG_ID}", headers=headers).status_code == 404:
        errors = client.get("/api/v2/importErrors", headers=headers).json().get("import_errors", [])
        pytest.fail(f"{DAG_ID} is not serialized; import errors: {[e['stack_trace'][-800:] for e in errors]}\n"
                    f"{_tail(airflow_db / 'reserialize.log')}", pytrace=False)
    return headers


def _run_count(client: httpx.Client, auth: dict[str, str]) -> int:
    resp = client.get(RUNS, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["total_entries"]


def test_requests_without_a_valid_token_are_refused(api: Api) -> None:
    client, _ = api
    assert client.post("/auth/token", json={"username": USER, "password": "wrong"}).status_code == 401
    assert client.get(RUNS).status_code in (401, 403)
    trigger = client.post(RUNS, json={"logical_date": None, "conf": {}})
    assert trigger.status_code in (401, 403), trigger.text
    assert client.get(RUNS, headers={"Authorization": "Bearer not-a-jwt"}).status_code in (401, 403)


def test_trigger_cutover_dry_run(api: Api, auth: dict[str, str]) -> None:
    client, _ = api
    conf = {"action": "cutover", "app_roles": ["app"], "dry_run": True}
    resp = client.post(RUNS, json={"logical_date": None, "conf": conf}, headers=auth)
    assert resp.status_code == 200, resp.text
    run = resp.json()
    assert (run["dag_id"], run["run_type"], run["conf"]) == (DAG_ID, "manual", conf)
    fetched = client.get(f"{RUNS}/{run['dag_run_id']}", headers=auth)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["conf"] == conf


@pytest.mark.parametrize(("conf", "param"), [
    ({"action": "explode"}, "action"),  # enum validate/setup/cutover
    ({"gate_readings": 0}, "gate_readings"),  # minimum 1
    ({"app_roles": "app"}, "app_roles"),  # must be an array
])
def test_invalid_conf_is_refused(api: Api, auth: dict[str, str], conf: dict[str, object], param: str) -> None:
    client, _ = api
    before = _run_count(client, auth)
    resp = client.post(RUNS, json={"logical_date": None, "conf": conf}, headers=auth)
    assert resp.status_code == 400, resp.text
    assert param in resp.json()["detail"], resp.text
    assert _run_count(client, auth) == before
