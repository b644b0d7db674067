"""Helpers shared by the test modules (a module of its own: two conftest.py files would collide)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import pytest

# Tests use their own ports and state directory, so they never touch a `make demo` cluster, and
# two test sessions on one machine take different blocks of ports.
FIRST_TEST_PORT = int(os.environ.get("PGSHIFT_TEST_BASE_PORT", "54100"))


def free_port_block(first: int = FIRST_TEST_PORT, size: int = 10, tries: int = 40) -> int:
    """The first port of ``size`` consecutive free ports on 127.0.0.1 (A, B, C, sshd and spares)."""
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
