"""The basebackup operator over real SSH (deferrable remote job) and locally; data-dir safety."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException
from chain_helpers import NAMES, CaptureFds, chain_conf, chain_config, run_dag, secrets_in, sql
from pgcluster import server_user
from testing_support import assert_run_succeeded

from pgshift.migration.checks.wal_lag import check_wal_lag
from pgshift.migration.operators.basebackup import BasebackupOperator

HAVE_SSHD = bool(shutil.which("sshd") or Path("/usr/sbin/sshd").exists())


def operator(cl, **overrides) -> BasebackupOperator:
    config = chain_config(cl, physical_slot_name=NAMES["physical_slot"], b_os_user=server_user(), **overrides)
    return BasebackupOperator(task_id="basebackup_b", config=config, poll_interval=1)


def streaming(cl) -> bool:
    return check_wal_lag("pgshift_a", "pgshift_b", NAMES["physical_slot"], 16 * 2**20, 30).done


@pytest.mark.skipif(not HAVE_SSHD, reason="openssh-server is not installed (make system-deps installs it as root)")
def test_whole_dag_with_basebackup_over_real_ssh(clusters):
    clusters.reset_chain()
    clusters.sshd_start()
    os.environ.update(clusters.airflow_connections())
    with CaptureFds() as out:
        dag_run = run_dag(chain_conf(clusters, ssh_conn_id="pgshift_ssh_b", b_os_user=None))
    assert_run_succeeded(dag_run, out.text)
    assert streaming(clusters)
    assert "[B] [basebackup] pg_basebackup from 127.0.0.1" in out.text
    assert "[B] [basebackup] B is up" in out.text
    assert secrets_in(out.text, clusters) == []
    passfile = Path(str(clusters.b.data_dir) + ".pgpass")
    mode = passfile.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600
    assert mode.st_uid == pwd.getpwnam(server_user()).pw_uid
    # The standby authenticates through the passfile: no password in its configuration.
    auto_conf = sql(clusters, clusters.b, "SELECT pg_read_file('postgresql.auto.conf')")[0][0]
    assert secrets_in(auto_conf, clusters) == []
    assert sql(clusters, clusters.b, "SHOW hot_standby_feedback")[0][0] == "on"


def test_local_basebackup_then_rerun_does_nothing(clusters):
    clusters.reset_chain()
    assert operator(clusters).execute({}) == {"action": "basebackup"}
    started = sql(clusters, clusters.b, "SELECT pg_postmaster_start_time()")
    sql(clusters, clusters.b, "ALTER SYSTEM SET hot_standby_feedback = off")
    sql(clusters, clusters.b, "SELECT pg_reload_conf()")
    assert operator(clusters).execute({}) == {"action": "none"}
    assert sql(clusters, clusters.b, "SELECT pg_postmaster_start_time()") == started
    assert sql(clusters, clusters.b, "SHOW hot_standby_feedback")[0][0] == "on"


def test_non_empty_data_dir_is_refused_then_moved_aside(clusters):
    clusters.reset_chain()
    operator(clusters).execute({})
    clusters.stop_node(clusters.b)
    with pytest.raises(AirflowException) as err:
        operator(clusters).execute({})
    assert "is not empty; refusing to overwrite it" in str(err.value)
    assert (clusters.b.data_dir / "PG_VERSION").exists()
    assert operator(clusters, move_aside_data_dir=True).execute({}) == {"action": "basebackup"}
    moved = list(clusters.b.data_dir.parent.glob("data_old_*"))
    assert len(moved) == 1 and (moved[0] / "PG_VERSION").exists()
    assert streaming(clusters)
