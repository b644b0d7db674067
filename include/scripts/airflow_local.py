#!/usr/bin/env python3
"""A real local Airflow deployment for pgshift: what `make demo` runs and what the deployment tests start.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as four separate processes, as on a
real deployment, with the metadata database on a local PostgreSQL cluster ("meta") from the same binaries
as A, B and C (LocalExecutor needs PostgreSQL, not SQLite). Everything listens on 127.0.0.1 only.

Usage (from the project's venv):
    airflow_local.py start | stop | status | env

Decisions, written down here:
- Processes are started in their own sessions and survive the command that started them (the demo leaves
  the deployment running for the user to look at); their pids are in ``<home>/run/*.pid`` and
  ``stop`` ends each process group, so LocalExecutor workers, trigger runners and log servers go too.
- The secrets every process must share (JWT secret, API secret key, Fernet key) and the UI login are
  generated once per Airflow home and kept in ``<home>/deployment.json`` (0600); connections to A, B and
  C reach every process as ``AIRFLOW_CONN_*`` variables, as in a container deployment.
- The UI login is the simple auth manager's user ``admin``; its password is in
  ``<home>/simple_auth_manager_passwords.json``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from pgcluster import ClusterError, LocalClusters, live_pid, port_in_use  # noqa: E402

PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
USER = "admin"
TERMINAL = {"success", "failed"}
# The api-server and the two log servers, after A, B, C, sshd and meta at base .. base+4.
API_OFFSET, WORKER_LOG_OFFSET, TRIGGER_LOG_OFFSET = 5, 6, 7


class DeploymentError(RuntimeError):
    """The deployment could not start or answer; the message says why and where the log is."""


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no output)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class AirflowDeployment:
    """The four Airflow processes over one Airflow home, for the clusters ``clusters``."""

    clusters: LocalClusters
    home: Path
    dags_folder: Path = ROOT / "dags"
    extra_env: dict[str, str] | None = None
    api_port: int = 0  # 0: PGSHIFT_API_PORT, else the clusters' base port + API_OFFSET

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        base = self.clusters.base_port
        self.api_port = self.api_port or int(os.environ.get("PGSHIFT_API_PORT", base + API_OFFSET))
        self.worker_log_port, self.trigger_log_port = base + WORKER_LOG_OFFSET, base + TRIGGER_LOG_OFFSET

    # -- configuration
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "process-logs"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def _secrets(self) -> dict[str, str]:
        path = self.home / "deployment.json"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            data = {"jwt_secret": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(32),
                    "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode()}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
        keys: dict[str, str] = json.loads(path.read_text())
        return keys

    @property
    def password(self) -> str:
        if not self.passwords_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.passwords_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({USER: secrets.token_urlsafe(12)}, fh)
        passwords: dict[str, str] = json.loads(self.passwords_file.read_text())
        return passwords[USER]

    def env(self) -> dict[str, str]:
        """The environment every Airflow process (and the `airflow` CLI) of this deployment runs with."""
        keys = self._secrets()
        meta = self.clusters.metadata_uri()
        env = {
            **os.environ,
            **self.clusters.airflow_connections(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            # pgshift is an installed provider, not a plugin: Airflow's plugins folder stays its own, empty.
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.home / "plugins"),
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            # A new DAG file is seen within seconds, not the default 5 minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "PGSHIFT_REPORT_DIR": str(self.home / "pgshift-reports"),
            # Tools under Airflow (and runuser) warn on every command without it.
            "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR") or str(self.home),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # every Airflow process would re-compile all of Airflow
        env.update(self.extra_env or {})
        return env

    # -- lifecycle
    def pid(self, name: str) -> int | None:
        return live_pid(self.run_dir / f"{name}.pid")

    def running(self) -> dict[str, bool]:
        return {name: self.pid(name) is not None for name in PROCESSES}

    def start(self, timeout: float = 240) -> None:
        """Metadata cluster, ``airflow db migrate``, then the four processes; returns once all are healthy."""
        if all(self.running().values()) and self._healthy():
            return
        self.stop()
        for port in (self.api_port, self.worker_log_port, self.trigger_log_port):
            if port_in_use(port):
                raise DeploymentError(f"port {port} on 127.0.0.1 is in use: stop what holds it, or set "
                                      "PGSHIFT_BASE_PORT (the deployment uses base+5..base+7) or PGSHIFT_API_PORT")
        self.clusters.start_metadata()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        _ = self.password  # created before the api-server reads the file
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=False,
                                 capture_output=True, text=True)
        if migrate.returncode:
            raise DeploymentError(f"airflow db migrate failed:\n{(migrate.stdout + migrate.stderr)[-3000:]}")
        for name in PROCESSES:
            self.start_process(name)
        self.wait_healthy(timeout)

    def start_process(self, name: str) -> int:
        """Start one of the four processes (again: a test kills one and starts a new one)."""
        argv = [sys.executable, "-m", "airflow", name]
        if name == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, env=self.env(), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=self.home)
        (self.run_dir / f"{name}.pid").write_text(str(proc.pid))
        return proc.pid

    def kill_process(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one process's whole group (a worker lost, an OOM kill)."""
        pid = self.pid(name)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)

    def _healthy(self) -> bool:
        import httpx

        try:
            resp = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=3, trust_env=False)
        except httpx.HTTPError:
            return False
        if resp.status_code != 200:
            return False
        body = resp.json()
        return all(body.get(part, {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not self._healthy():
            for name, alive in self.running().items():
                if not alive:
                    raise DeploymentError(f"airflow {name} exited:\n{_tail(self.log_dir / f'{name}.log')}")
            if time.monotonic() > deadline:
                raise DeploymentError(f"the deployment is not healthy after {timeout:.0f} s; logs in {self.log_dir}")
            time.sleep(0.5)

    def stop(self, grace: float = 20) -> None:
        """End every process group the deployment started (SIGTERM, then SIGKILL after ``grace`` s)."""
        pids = {name: self.pid(name) for name in PROCESSES}
        for started in filter(None, pids.values()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, pid in pids.items():
            while pid and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)

    def api(self) -> AirflowApi:
        return AirflowApi(self.url, USER, self.password)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours still answers kill(0); its state says it is gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return True


class AirflowApi:
    """The REST API v2 as a user calls it: a token from /auth/token, then JSON requests."""

    def __init__(self, url: str, user: str, password: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=url, timeout=30, trust_env=False)
        resp = self.client.post("/auth/token", json={"username": user, "password": password})
        if resp.status_code not in (200, 201):
            raise DeploymentError(f"POST /auth/token: {resp.status_code} {resp.text[:300]}")
        self.client.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def request(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.client.request(method, path, **kw)
        if resp.status_code >= 400:
            raise DeploymentError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has serialized ``dag_id`` (a fresh deployment parses the folder first)."""
        deadline = time.monotonic() + timeout
        while self.client.get(f"/api/v2/dags/{dag_id}").status_code != 200:
            if time.monotonic() > deadline:
                errors = self.request("GET", "/api/v2/importErrors").get("import_errors", [])
                raise DeploymentError(f"{dag_id} not parsed after {timeout:.0f} s; import errors: "
                                      f"{[e.get('stack_trace', '')[-600:] for e in errors]}")
            time.sleep(0.5)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as text (worker lines and, for a deferred sensor, the triggerer's)."""
        body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/"
                                   f"{try_number}", params={"full_content": True},
                            headers={"Accept": "application/json"})
        content = body.get("content", "")
        if not isinstance(content, list):
            return str(content)
        return "\n".join(_log_line(line) for line in content)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600,
                 on_poll: Callable[[dict[str, str | None]], None] | None = None) -> str:
        """Until the run ends; ``on_poll`` sees its task states every half second. Returns the run's state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run(dag_id, run_id)["state"]
            if on_poll:
                on_poll(self.task_states(dag_id, run_id))
            if state in TERMINAL:
                return str(state)
            if time.monotonic() > deadline:
                raise DeploymentError(f"run {run_id} of {dag_id} still {state} after {timeout:.0f} s: "
                                      f"{self.task_states(dag_id, run_id)}")
            time.sleep(0.5)

    def close(self) -> None:
        self.client.close()


def _log_line(line: object) -> str:
    """A structured log line as a person reads it: the event, then an exception's type and message."""
    if not isinstance(line, dict):
        return str(line)
    text = str(line.get("event", ""))
    for err in line.get("error_detail") or []:
        text += f"\n{err.get('exc_type')}: {err.get('exc_value')}"
    return text


def failed_task_logs(api: AirflowApi, dag_id: str, run_id: str, tasks: Iterable[str] | None = None) -> str:
    """The last lines of each failed task's log: what a user reads in the UI after a red run."""
    out = []
    for task_id, state in api.task_states(dag_id, run_id).items():
        if state == "failed" and (tasks is None or task_id in tasks):
            out.append(f"--- {task_id}\n" + "\n".join(api.task_log(dag_id, run_id, task_id).splitlines()[-25:]))
    return "\n".join(out)


def failure_reason(api: AirflowApi, dag_id: str, run_id: str) -> str:
    """The exception a failed run's first failed task ended with ("AirflowFailException: ..."), or ""."""
    for task_id, state in api.task_states(dag_id, run_id).items():
        if state == "failed":
            lines = [line for line in api.task_log(dag_id, run_id, task_id).splitlines()
                     if line.split(":", 1)[0].endswith(("Exception", "Error"))]
            if lines:
                return lines[-1]
    return ""


def from_environment() -> AirflowDeployment:
    """The demo's deployment: the clusters of ``PGSHIFT_STATE_DIR``/``PGSHIFT_BASE_PORT``, home beside them."""
    cl = LocalClusters(os.environ.get("PGSHIFT_STATE_DIR"), int(os.environ.get("PGSHIFT_BASE_PORT", "54320")))
    return AirflowDeployment(cl, cl.state_dir / "airflow")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    args = parser.parse_args(argv)
    dep = from_environment()
    try:
        if args.command == "start":
            dep.start()
            print(f"Airflow UI: {dep.url} (user {USER}, password in {dep.passwords_file})")
        elif args.command == "stop":
            dep.stop()
        elif args.command == "status":
            print(json.dumps({**dep.running(), "healthy": dep._healthy()}))
        elif args.command == "env":
            # What the `airflow` CLI needs to use this deployment: eval "$(airflow_local.py env)".
            env = dep.env()
            for key in sorted(k for k in env if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) or k == "AIRFLOW_HOME"):
                print(f"export {key}='{env[key]}'")
    except (ClusterError, DeploymentError) as exc:
        print(f"airflow_local: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
