"""The synchronous option's parts that need no standby of their own: the guard's decision on readings a healthy
trio does not produce (a B that hangs, a value someone else set, a B not caught up), the setup's refusal of a role
that may not change A and the grants it names, and the guard's DAG.

B stopped and started under writes, with the guard acting on a real A, is in ``tests/test_promote_b.py`` (its private
trio is synchronous).
"""

from __future__ import annotations

import logging

import pytest
from airflow.sdk.exceptions import AirflowFailException
from chain_helpers import chain_config, sql
from pgcluster import LocalClusters

from pgshift.migration.hooks.states import SyncReading
from pgshift.migration.sync.guard import CATCH_UP_BYTES, Act, decide
from pgshift.migration.sync.settings import SyncSettings, standby_names

SETTINGS = SyncSettings(conn_a="pgshift_a", standby="pgshift_b", names=standby_names("pgshift_b"), previous="",
                        fallback_seconds=2.0)


def reading(names: str, state: str | None = "streaming", sync_state: str | None = "sync",
            reply_age_s: float | None = 0.1, behind_bytes: int | None = 0, waiting: int = 0) -> SyncReading:
    return SyncReading(names=names, state=state, sync_state=sync_state, reply_age_s=reply_age_s,
                       behind_bytes=behind_bytes, waiting_commits=waiting)


def test_a_hung_b_is_given_up_once_commits_wait_longer_than_the_fallback() -> None:
    """A B that stopped answering keeps its walsender (until wal_sender_timeout) and its sync state: its silence while
    commits wait is what counts, measured from its last reply."""
    hung = reading(SETTINGS.names, reply_age_s=3.0, waiting=4)
    decision = decide(SETTINGS, hung, None, now=1000.0)
    assert decision.act == Act.RELEASE and decision.unwell_since == 997.0
    assert "has not replied for 3.0 s while 4 commit(s) wait for it" in decision.reason
    # Idle A: B's replies come every wal_receiver_status_interval; silence with nothing waiting is no fault.
    assert decide(SETTINGS, reading(SETTINGS.names, reply_age_s=9.0), None, now=1000.0).act == Act.NONE
    assert decide(SETTINGS, reading(SETTINGS.names, reply_age_s=1.0, waiting=4), None, now=1000.0).act == Act.NONE


def test_b_gone_is_waited_for_the_fallback_seconds_then_given_up() -> None:
    gone = reading(SETTINGS.names, state=None, sync_state=None, reply_age_s=None, behind_bytes=None, waiting=1)
    first = decide(SETTINGS, gone, None, now=1000.0)
    assert (first.act, first.unwell_since) == (Act.NONE, 1000.0)
    assert decide(SETTINGS, gone, first.unwell_since, now=1001.5).act == Act.NONE
    given_up = decide(SETTINGS, gone, first.unwell_since, now=1002.0)
    assert given_up.act == Act.RELEASE and "2.0 s now (synchronous_fallback_seconds 2)" in given_up.reason
    # Back in time: the count starts again.
    assert decide(SETTINGS, reading(SETTINGS.names), first.unwell_since, now=1001.0).unwell_since is None


def test_b_named_again_only_when_it_streams_and_has_caught_up() -> None:
    behind = reading("", sync_state="async", behind_bytes=CATCH_UP_BYTES + 1)
    assert decide(SETTINGS, behind, None, now=0).act == Act.NONE
    assert decide(SETTINGS, reading("", state="catchup", sync_state="async"), None, now=0).act == Act.NONE
    caught_up = decide(SETTINGS, reading("", sync_state="async", behind_bytes=CATCH_UP_BYTES), None, now=0)
    assert caught_up.act == Act.RESTORE and "synchronous again" in caught_up.reason


def test_a_value_someone_else_set_is_left_alone() -> None:
    decision = decide(SETTINGS, reading('"other"', state=None, sync_state=None), 0.0, now=100.0)
    assert decision.act == Act.NONE and "changed by someone else, left alone" in decision.reason


def test_setup_refuses_a_role_that_may_not_and_the_grants_it_names_suffice(
        clusters: LocalClusters, monkeypatch: pytest.MonkeyPatch) -> None:
    """conn_a as a role that is no superuser: refused naming both grants, by the preflight and by the setup's task,
    nothing changed (no settings recorded, A's value as it was); with those grants the role may."""
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.preflight.checks import check_a
    from pgshift.migration.sync.standby import enable, rights_problem

    cl = clusters
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_APP", cl.uri(cl.a, user="app"))
    before = sql(cl, cl.a, "SELECT current_setting('synchronous_standby_names')")[0][0]
    saved: list[SyncSettings] = []
    chain = chain_config(cl, conn_a="sync_app", synchronous_standby=True)
    with pytest.raises(AirflowFailException) as refused:
        enable(chain, None, "manual__test", logging.getLogger("test"), saved.append)
    assert str(refused.value) == (
        "synchronous_standby: the role app of connection conn_a may not make B synchronous: run on A as a superuser "
        "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO app; GRANT EXECUTE ON FUNCTION pg_reload_conf() "
        "TO app; nothing was changed")
    assert saved == [] and sql(cl, cl.a, "SELECT current_setting('synchronous_standby_names')")[0][0] == before
    # The preflight (and validation) names it before the setup changes anything at all.
    assert str(refused.value).removesuffix("; nothing was changed") in check_a(chain).problems
    grants = ("ALTER SYSTEM ON PARAMETER synchronous_standby_names", "EXECUTE ON FUNCTION pg_reload_conf()")
    try:
        for grant in grants:
            sql(cl, cl.a, f"GRANT {grant} TO app")
        with PrimaryHook("sync_app") as a:
            assert rights_problem(a) is None
    finally:
        for grant in grants:
            sql(cl, cl.a, f"REVOKE {grant} FROM app")


def test_restore_gives_a_its_earlier_value(clusters: LocalClusters) -> None:
    """What finish (and a setup with the option off) runs: A's synchronous_standby_names back to the recorded earlier
    value. Nothing commits on A meanwhile: A names a standby that is not there."""
    from chain_helpers import wait_for

    from pgshift.migration.sync.standby import restore

    cl = clusters

    def names() -> str:
        return sql(cl, cl.a, "SELECT current_setting('synchronous_standby_names')")[0][0]

    sql(cl, cl.a, "ALTER SYSTEM SET synchronous_standby_names = '\"nobody\"'")
    try:
        sql(cl, cl.a, "SELECT pg_reload_conf()")
        wait_for(lambda: names() == '"nobody"', 10, what="A naming the standby nobody")
        settings = SyncSettings(conn_a="pgshift_a", standby="nobody", names=standby_names("nobody"), previous="",
                                fallback_seconds=10.0)
        assert restore(settings) == '"nobody"'
        wait_for(lambda: names() == "", 10, what="A's earlier value back")
    finally:
        sql(cl, cl.a, "ALTER SYSTEM RESET synchronous_standby_names")
        sql(cl, cl.a, "SELECT pg_reload_conf()")


def test_the_guard_dag_runs_one_deferred_watch_at_a_time_unpaused_from_its_creation() -> None:
    import hybrid_aurora_migration_sync_guard as guard_dag

    from pgshift.migration.operators.synchronous import SyncGuardOperator
    from pgshift.migration.triggers.sync_guard import SyncGuardTrigger

    dag = guard_dag.dag
    assert (dag.schedule, dag.max_active_runs, dag.is_paused_upon_creation) == ("@continuous", 1, False)
    (task,) = dag.tasks
    assert isinstance(task, SyncGuardOperator) and task.dag_id_guarded == "hybrid_aurora_migration"
    assert task.execution_timeout is not None and task.execution_timeout.total_seconds() > task.window_seconds
    classpath, kwargs = SyncGuardTrigger("hybrid_aurora_migration", 10.0).serialize()
    assert SyncGuardTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert classpath.startswith("pgshift.")  # the triggerer imports it from the installed provider
