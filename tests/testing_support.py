"""Helpers shared by the test modules (a module of its own: two conftest.py files would collide)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pgcluster import LocalClusters

# Tests use their own ports and state directory, so they never touch a `make demo` cluster, and
# two test sessions on one machine take different blocks of ports.
FIRST_TEST_PORT = int(os.environ.get("PGSHIFT_TEST_BASE_PORT", "25100"))


def free_port_block(first: int = FIRST_TEST_PORT, size: int = 10, tries: int = 200) -> int:
    """The first port of ``size`` consecutive free ports on 127.0.0.1 (A, B, C, sshd and spares).

    The default range starts below Linux's ephemeral ports (32768-60999): a suite that opens thousands of short
    connections scatters their TIME_WAIT entries over the ephemeral range, and not every server a test starts binds
    past them (CI, session 11: no block of ten left in 54100-54500)."""
    import socket

    for base in range(first, first + size * tries, size):
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + size):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {size} free consecutive ports from {first}")


def installed_pgshift(root: Path) -> None:
    """Stop the session at once, with the fix, unless ``import pgshift`` is this checkout's provider package
    (installed editable by ``make install``): tests of another copy would prove nothing about this one."""
    import importlib.util

    spec = importlib.util.find_spec("pgshift")
    where = Path(spec.origin).resolve().parent if spec and spec.origin else None
    if where != root / "plugins" / "pgshift":
        pytest.exit(f"pgshift is imported from {where or 'nowhere'}, not {root / 'plugins' / 'pgshift'}: "
                    "run `make install` (it installs the provider editable from this checkout)", returncode=4)


def state_dir(name: str) -> Path:
    # Not pytest's tmp_path: it is 0700, and the servers run as an unprivileged user.
    path = Path(tempfile.gettempdir()) / f"pgshift-test-{os.getpid()}-{name}"
    path.mkdir(mode=0o755, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def aurora_clusters(name: str, orders: int | None = None, conn_prefix: str = "PGSHIFT_") -> Iterator[LocalClusters]:
    """A, B (empty) and an Aurora-shaped C (pgcluster's ``aurora`` profile: pgshift logs in to C as the master
    user, no superuser) on a state directory (``name``) and ports of their own, with the sample data at scale 1 and
    ``orders`` orders (None: none); the Airflow connections to them, ``AIRFLOW_CONN_<conn_prefix>A`` and so on, are
    set inside the block, and every ``AIRFLOW_CONN_*`` is as it was after it (the session's clusters again)."""
    from pgcluster import LocalClusters

    cl = LocalClusters(state_dir(name), free_port_block(), c_profile="aurora")
    saved = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    try:
        cl.start()
        if orders is not None:
            from sample_data import load_sample

            load_sample(cl, scale=1, orders=orders)
        os.environ.update({f"AIRFLOW_CONN_{conn_prefix}{key.removeprefix('AIRFLOW_CONN_PGSHIFT_')}": value
                           for key, value in cl.airflow_connections().items()})
        yield cl
    finally:
        for key in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
            del os.environ[key]
        os.environ.update(saved)
        cl.destroy()


class CaptureFds:
    """Everything written to fds 1 and 2 (Airflow's task logs under dag.test()) while active."""

    def __enter__(self) -> CaptureFds:
        self._file = tempfile.TemporaryFile(mode="w+b")
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        # pytest swaps sys.stdout for its own capture object, which structlog writes to.
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = open(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stdout.close()
        sys.stdout, sys.stderr = self._streams
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()


def airflow_db_text() -> str:
    """XCom values and rendered template fields stored by the runs, as one text."""
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        parts = [str(r) for r in conn.execute("SELECT value FROM xcom")]
        parts += [str(r) for r in conn.execute("SELECT rendered_fields FROM rendered_task_instance_fields")]
    return "\n".join(parts)


def log_excerpt(text: str, lines: int = 40) -> str:
    """The lines of a captured run log that explain a failure: errors, B's output, preflight reports."""
    keep = ("rror", "xception", "[B]", "Preflight", "  - ", "failed", "FATAL")
    return "\n".join([line[:400] for line in text.splitlines() if any(k in line for k in keep)][-lines:])


def assert_run_succeeded(dag_run, log_text: str = "") -> dict[str, str]:
    """The run succeeded; otherwise fail with the task states and the log lines that explain why."""
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    if str(dag_run.state) != "success":
        failed = {k: v for k, v in states.items() if v == "failed"}
        pytest.fail(f"DAG run {dag_run.state}; failed tasks: {failed}\n{log_excerpt(log_text)}", pytrace=False)
    return states


MOTO_REGION = "us-east-1"
MOTO_TASK_MODEL = "dms::replicationtask"  # tests/moto_dms_server.py's state model of a DMS task
MOTO_INSTANCE_MODEL = "dms::replicationinstance"  # moto's own model of a replication instance


class MotoServer:
    """moto as a server on 127.0.0.1 (``tests/moto_dms_server.py`` in a process of its own), reached only over
    HTTP: by boto3 through the ``aws_default`` connection's ``endpoint_url``, and by the tests through moto's
    ``/moto-api/`` (reset, state transitions)."""

    def __init__(self, log: Path) -> None:
        import socket
        import subprocess
        import urllib.request

        with socket.socket() as sock:  # a free port: moto binds it a moment later
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("moto_dms_server.py")),
                                      str(self.port)], stdout=self._log, stderr=subprocess.STDOUT)

        def up() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"the moto server exited ({self.proc.returncode}): {log.read_text()[-2000:]}")
            try:
                return urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2).status == 200
            except OSError:
                return False

        wait_for(up, timeout=60, what=f"the moto server on port {self.port}")

    def post(self, path: str, body: dict[str, object] | str | None = None) -> None:
        """POST to moto's ``/moto-api/<path>``: ``body`` as JSON, or as it is when text."""
        import json
        import urllib.request

        data = body if isinstance(body, str) else json.dumps(body or {})
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", method="POST", data=data.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201), (path, response.status)

    def set_transition(self, model: str, **transition: object) -> None:
        self.post("state-manager/set-transition", {"model_name": model, "transition": transition})

    def reset(self) -> None:
        """No DMS resources, every model back to its default transition."""
        self.post("reset")
        for model in (MOTO_TASK_MODEL, MOTO_INSTANCE_MODEL):
            self.post("state-manager/unset-transition", {"model_name": model})

    def connection(self) -> str:
        """``aws_default`` for this server: fake keys, the region, and the endpoint every AWS call goes to."""
        import json

        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                           "extra": {"region_name": MOTO_REGION, "endpoint_url": self.url}})

    def env(self) -> dict[str, str]:
        """The environment of a process that talks to this server: the connection, and no real credentials
        from elsewhere (boto3 would take them before the connection's)."""
        return {"AIRFLOW_CONN_AWS_DEFAULT": self.connection(), "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": MOTO_REGION}

    def stop(self) -> None:
        import subprocess

        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def moto_aws_env(monkeypatch: pytest.MonkeyPatch, server: MotoServer, **connections: str) -> None:
    """The ``aws_default`` connection to ``server`` and fake AWS credentials; ``connections``: further
    ``AIRFLOW_CONN_<NAME>`` values."""
    env = {**server.env(), **{f"AIRFLOW_CONN_{name.upper()}": uri for name, uri in connections.items()}}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
