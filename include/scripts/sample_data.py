#!/usr/bin/env python3
"""Sample data on A (pgbench tables and an ``orders`` table fed by a sequence) and a light write load.

Used by ``make demo`` and the tests. pgbench_history has no primary key: it gets REPLICA IDENTITY
FULL, as a DBA would do before publishing it (otherwise its UPDATE/DELETE would fail on A).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgcluster import DATABASE, LocalClusters

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


def sample_sql(name: str) -> str:
    """The local tools' SQL (``include/sql/<name>.sql``; not part of the provider package)."""
    return (SQL_DIR / f"{name}.sql").read_text()


def load_sample(cl: LocalClusters, scale: int = 1, orders: int = 1000) -> None:
    """pgbench -i at ``scale`` plus ``orders`` rows, on A. Safe to run twice: existing tables are kept
    (re-initialising them would drop tables that a running migration replicates)."""
    with psycopg2.connect(cl.uri(cl.a)) as conn, conn.cursor() as cur:
        cur.execute(sample_sql("sample_pgbench_present"))
        exists = cur.fetchone()[0]
    env = {**os.environ, "PGPASSWORD": cl.passwords()["postgres"]}
    if not exists:
        subprocess.run([cl.tool("pgbench"), "-i", "-q", "-s", str(scale), "-h", "127.0.0.1", "-p", str(cl.a.port),
                        "-U", "postgres", DATABASE], env=env, check=True, capture_output=True)
    with psycopg2.connect(cl.uri(cl.a)) as conn, conn.cursor() as cur:
        cur.execute(sample_sql("sample_orders_table"))
        cur.execute(sample_sql("sample_orders_count"))
        if cur.fetchone()[0] == 0:
            cur.execute(sample_sql("sample_orders_seed"), (orders,))


class WriteLoad:
    """A background writer on A: inserts orders and runs pgbench-like updates, ``rate`` times a second."""

    def __init__(self, dsn: str, rate: float = 20.0) -> None:
        self.dsn, self.rate = dsn, rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgshift-write-load", daemon=True)
        self.committed = 0
        self.error: Exception | None = None
        self.fenced: str | None = None  # why the fence ended the load, if it did

    def _run(self) -> None:
        try:
            conn = psycopg2.connect(self.dsn)
            conn.autocommit = False
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute(sample_sql("sample_write_order"), (self.committed % 97, self.committed % 1000 / 10.0))
                    cur.execute(sample_sql("sample_write_account"), (self.committed % 100000 + 1,))
                    cur.execute(sample_sql("sample_write_history"), (self.committed % 100000 + 1,))
                    conn.commit()
                    self.committed += 1
                    self._stop.wait(1.0 / self.rate)
            conn.close()
        except psycopg2.OperationalError as exc:
            # A cutover's fence ends the application's session (the client may see only a closed
            # connection): if the role can no longer log in, that is the end of this load, not an error.
            if self._fenced_out():
                said = str(exc).strip().splitlines()[0] if str(exc).strip() else "the connection closed"
                self.fenced = f"the fence ended the application's session; the driver said: {said}"
            else:
                self.error = exc
        except Exception as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc

    def _fenced_out(self) -> bool:
        try:
            psycopg2.connect(self.dsn).close()
        except psycopg2.OperationalError as exc:
            return "not permitted to log in" in str(exc)
        return False

    def start(self) -> WriteLoad:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise self.error
        return self.committed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=os.environ.get("PGSHIFT_STATE_DIR"))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("PGSHIFT_BASE_PORT", "54320")))
    parser.add_argument("command", choices=["load", "write"])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=3600)
    args = parser.parse_args()
    cl = LocalClusters(args.state_dir, args.base_port)
    if args.command == "load":
        load_sample(cl, args.scale)
        return 0
    load = WriteLoad(cl.uri(cl.a), args.rate).start()
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    print(f"committed {load.stop()} write transactions on A")
    return 0


if __name__ == "__main__":
    sys.exit(main())
