#!/usr/bin/env python3
"""Sample data on A (pgbench tables and an ``orders`` table fed by a sequence) and a light write load.

Used by ``make demo`` and the tests. pgbench_history has no primary key: it gets REPLICA IDENTITY
FULL, as a DBA would do before publishing it (otherwise its UPDATE/DELETE would fail on A).

A second application, for a chain of several databases (:func:`load_shop`, :class:`ShopLoad`): its own database
(``shop`` by default) owned by its own role ``shop_app`` (LOGIN, its password in the state directory's secrets),
which owns its tables ``customers`` (an identity column) and ``carts`` (a bigserial), and a write load of its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgcluster import DATABASE, LocalClusters, Node

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


SHOP_ROLE = "shop_app"
SHOP_DATABASE = "shop"


def load_shop(cl: LocalClusters, database: str = SHOP_DATABASE, customers: int = 50, carts: int = 300) -> None:
    """The second application on A: role ``shop_app`` (LOGIN; made once), database ``database`` owned by it, and
    in it, created as ``shop_app``, tables ``customers`` and ``carts`` with ``customers`` and ``carts`` rows.
    Safe to run twice (what exists is kept); several databases may share the role."""
    conn = psycopg2.connect(cl.uri(cl.a, db="postgres"))
    conn.autocommit = True  # CREATE DATABASE refuses a transaction block (and `with conn` opens one)
    try:
        with conn.cursor() as cur:
            cur.execute(sample_sql("sample_role_present"), (SHOP_ROLE,))
            if not cur.fetchone()[0]:
                cur.execute(sql.SQL(sample_sql("sample_app_role")).format(role=sql.Identifier(SHOP_ROLE)),
                            (cl.passwords()[SHOP_ROLE],))
            cur.execute(sample_sql("sample_database_present"), (database,))
            if not cur.fetchone()[0]:
                cur.execute(sql.SQL(sample_sql("sample_app_database")).format(
                    database=sql.Identifier(database), role=sql.Identifier(SHOP_ROLE)))
    finally:
        conn.close()
    with psycopg2.connect(cl.uri(cl.a, user=SHOP_ROLE, db=database)) as conn, conn.cursor() as cur:
        cur.execute(sample_sql("sample_shop_tables"))
        cur.execute(sample_sql("sample_shop_count"))
        if cur.fetchone()[0] == 0:
            cur.execute(sample_sql("sample_shop_seed"), {"customers": customers, "carts": carts})
    conn.close()


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
                    self.write(cur, self.committed)
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

    def write(self, cur: Any, n: int) -> None:
        """The ``n``-th transaction's statements."""
        cur.execute(sample_sql("sample_write_order"), (n % 97, n % 1000 / 10.0))
        cur.execute(sample_sql("sample_write_account"), (n % 100000 + 1,))
        cur.execute(sample_sql("sample_write_history"), (n % 100000 + 1,))

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


class ShopLoad(WriteLoad):
    """:class:`WriteLoad` for the second application (:func:`load_shop`): as ``shop_app`` in its database, each
    transaction adds a cart (note ``live``) and counts a visit of one of the first 50 customers."""

    def __init__(self, cl: LocalClusters, database: str = SHOP_DATABASE, rate: float = 20.0,
                 node: Node | None = None) -> None:
        """``node``: where it writes (default A; C after a cutover, with the same role and password)."""
        super().__init__(cl.uri(node or cl.a, user=SHOP_ROLE, db=database), rate)

    def write(self, cur: Any, n: int) -> None:
        cur.execute(sample_sql("sample_shop_write_cart"), (n % 50 + 1, n % 500 / 10.0))
        cur.execute(sample_sql("sample_shop_write_customer"), (n % 50 + 1,))


class MovingApp:
    """The application as it moves: role ``app`` with unchanged credentials and a list of servers, A then C, as a
    connection pool configured with both would have. While A takes it, it writes on A; the fence ends its
    session and A refuses it, so it reconnects - every ``retry`` seconds, A first, then C - until C lets it in,
    and writes on C. ``downtime`` is what the application felt: from its last commit on A to its first commit on
    C. (Not one libpq multi-host string: libpq does not try the next host when a server refuses the role.)"""

    def __init__(self, cl: LocalClusters, rate: float = 50.0, retry: float = 0.01, neutral: bool = False) -> None:
        """``neutral``: each transaction rewrites one row with its own values (a benchmark compares A with C
        afterwards); else it inserts an order and updates an account, as the demo's application does."""
        from urllib.parse import quote

        pw = quote(cl.passwords()["app"], safe="")
        self.dsns = {server: f"postgresql://app:{pw}@127.0.0.1:{node.port}/{DATABASE}?connect_timeout=2"
                     for server, node in (("A", cl.a), ("C", cl.c))}
        self.rate, self.retry, self.neutral = rate, retry, neutral
        self.committed = {"A": 0, "C": 0}
        self.last_commit_on_a: float | None = None
        self.first_commit_on_c: float | None = None
        self.refusals: list[str] = []  # what the servers said while the application was locked out (distinct)
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgshift-moving-app", daemon=True)

    def start(self) -> MovingApp:
        self._thread.start()
        return self

    @property
    def downtime(self) -> float | None:
        if self.last_commit_on_a is None or self.first_commit_on_c is None:
            return None
        return round(self.first_commit_on_c - self.last_commit_on_a, 3)

    def wait_on_c(self, commits: int = 10, timeout: float = 60) -> bool:
        """Until the application has committed ``commits`` transactions on C."""
        deadline = time.monotonic() + timeout
        while self.committed["C"] < commits and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        return self.committed["C"] >= commits

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise self.error
        return dict(self.committed)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            connected = self._connect()
            if connected is None:
                self._stop.wait(self.retry)
                continue
            server, conn = connected
            try:
                with conn.cursor() as cur:
                    while not self._stop.is_set():
                        if self.neutral:
                            cur.execute(sample_sql("sample_write_neutral"))
                        else:
                            cur.execute(sample_sql("sample_write_order"), (n % 97, n % 1000 / 10.0))
                            cur.execute(sample_sql("sample_write_account"), (n % 100000 + 1,))
                        conn.commit()
                        now = time.time()
                        n += 1
                        self.committed[server] += 1
                        if server == "A":
                            self.last_commit_on_a = now
                        elif self.first_commit_on_c is None:
                            self.first_commit_on_c = now
                        self._stop.wait(1.0 / self.rate)
            except (psycopg2.OperationalError, psycopg2.errors.ReadOnlySqlTransaction, psycopg2.InterfaceError):
                pass  # the fence ended the session, or made A read-only: reconnect, as a pool would
            except Exception as exc:  # noqa: BLE001 - surfaced by stop()
                self.error = exc
                return
            finally:
                conn.close()

    def _connect(self) -> tuple[str, Any] | None:
        """The first server that lets the application in and is writable, A first."""
        for server, dsn in self.dsns.items():
            try:
                conn = psycopg2.connect(dsn)
            except psycopg2.OperationalError as exc:
                said = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
                if said not in self.refusals:
                    self.refusals.append(said)
                continue
            with conn.cursor() as cur:
                cur.execute(sample_sql("sample_read_only"))
                read_only = cur.fetchone()[0] == "on"
            conn.rollback()
            if not read_only:
                return server, conn
            conn.close()
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=os.environ.get("PGSHIFT_STATE_DIR"))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("PGSHIFT_BASE_PORT", "54320")))
    parser.add_argument("command", choices=["load", "write", "load-shop", "write-shop"])
    parser.add_argument("--database", default=SHOP_DATABASE, help="the second application's database (*-shop)")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=3600)
    args = parser.parse_args()
    cl = LocalClusters(args.state_dir, args.base_port)
    if args.command == "load":
        load_sample(cl, args.scale)
        return 0
    if args.command == "load-shop":
        load_shop(cl, args.database)
        return 0
    load = (ShopLoad(cl, args.database, args.rate) if args.command == "write-shop"
            else WriteLoad(cl.uri(cl.a), args.rate)).start()
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    print(f"committed {load.stop()} write transactions on A")
    return 0


if __name__ == "__main__":
    sys.exit(main())
