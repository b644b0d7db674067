"""Preflight on an Aurora-shaped C: pgshift's role there is no superuser, and each grant it lacks is refused
before anything changes, the refusal naming the statement to run.

One Aurora-profile cluster set for the module. The roles pgshift logs in to C with are made by the harness
(``rdsadmin``, standing for AWS) with every right the chain needs on C but one.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import quote

import pytest
from airflow.sdk.exceptions import AirflowFailException
from chain_helpers import NAMES, chain_conf, chain_values, run_dag, task_states
from pgcluster import DATABASE, LocalClusters, server_user
from testing_support import aurora_clusters

from pgshift.migration.operators.preflight import ChainPreflightOperator

# Every right pgshift's role needs on C (pgshift.migration.preflight.target_role), by the name a case leaves out.
RIGHTS = {
    "create_on_database": f"GRANT CREATE ON DATABASE {DATABASE} TO {{role}}",
    "create_on_schema": "GRANT CREATE ON SCHEMA public TO {role}",
    "createrole": "ALTER ROLE {role} CREATEROLE",
    "pg_create_subscription": "GRANT pg_create_subscription TO {role}",
    "pg_monitor": "GRANT pg_monitor TO {role}",
    "pg_signal_backend": "GRANT pg_signal_backend TO {role}",
    "database_owner": f"ALTER DATABASE {DATABASE} OWNER TO {{role}}",
}
# The database's owner has CREATE on it and on its public schema (pg_database_owner's) without a grant: those cases
# run with a role that does not own it, and fallback off (the owner is needed only for the fallback's fence on C).
HIDDEN_BY_OWNER = {"create_on_database", "create_on_schema"}


@pytest.fixture(scope="module")
def aurora():
    """A with one table, B's data dir empty, C Aurora-shaped; connections ``aurora_pf_*`` (C's: the master user)."""
    with aurora_clusters("aurora-preflight", conn_prefix="AURORA_PF_") as cl:
        cl.sql(cl.a, "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, label text)")
        yield cl


def values(cl: LocalClusters, **overrides) -> dict:
    conns = {"conn_a": "aurora_pf_a", "conn_a_replication": "aurora_pf_a_replication", "conn_b": "aurora_pf_b",
             "conn_b_subscription": "aurora_pf_b_replication", "conn_c": "aurora_pf_c",
             "conn_c_subscription": "aurora_pf_c_replication"}
    # A's superuser postgres is in scope (it owns A's default privileges); on C, postgres is the master user, which
    # no other role administers: a conn_c other than the master user needs it out of scope (see the test below).
    return chain_values(cl, mode="native", b_os_user=server_user(), publication_name=NAMES["publication"],
                        physical_slot_name=NAMES["physical_slot"], slot_name=NAMES["slot"],
                        subscription_name=NAMES["subscription"],
                        **{**conns, "exclude_roles": ["postgres"], **overrides})


@pytest.fixture(autouse=True)
def database_owned_by_the_master_user(aurora):
    """As the module found it after every test: a test role may have been given C's database."""
    yield
    aurora.sql(aurora.c, f"ALTER DATABASE {DATABASE} OWNER TO postgres")


def refusal(cl: LocalClusters, **overrides) -> str:
    with pytest.raises(AirflowFailException) as err:
        ChainPreflightOperator(task_id="preflight", config=values(cl, **overrides)).execute({})
    return str(err.value)


def role_on_c(cl: LocalClusters, role: str, *without: str) -> str:
    """A login role on C holding every right in RIGHTS but ``without``; its connection id."""
    password = secrets.token_urlsafe(18)
    cl.sql(cl.c, f"DROP ROLE IF EXISTS {role}")
    cl.sql(cl.c, f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
    for name, statement in RIGHTS.items():
        if name not in without:
            cl.sql(cl.c, statement.format(role=role))
    conn_id = f"aurora_pf_{role}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = (
        f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{cl.c.port}/{DATABASE}")
    return conn_id


def nothing_created(cl: LocalClusters) -> None:
    assert cl.sql(cl.a, "SELECT slot_name FROM pg_replication_slots") == []
    assert cl.sql(cl.a, "SELECT pubname FROM pg_publication") == []
    assert os.listdir(cl.b.data_dir) == []
    assert cl.sql(cl.c, "SELECT subname FROM pg_subscription") == []
    assert cl.sql(cl.c, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace") == []


def test_the_master_user_passes_and_is_no_superuser(aurora):
    facts = ChainPreflightOperator(task_id="preflight", config=values(aurora)).execute({})
    assert facts["c_role"]["rolname"] == "postgres"
    assert facts["c_role"]["rolsuper"] is False and facts["c_role"]["rds_superuser"] is True
    assert aurora.sql(aurora.c, "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'") == [(False,)]


def test_a_role_with_every_right_passes(aurora):
    facts = ChainPreflightOperator(task_id="preflight",
                                   config=values(aurora, conn_c=role_on_c(aurora, "pf_full"))).execute({})
    assert facts["c_role"]["rolsuper"] is False and facts["c_role"]["rds_superuser"] is False


@pytest.mark.parametrize("missing", list(RIGHTS))
def test_each_missing_right_is_refused_with_its_statement(aurora, missing):
    role = f"pf_no_{missing}"
    if missing in HIDDEN_BY_OWNER:
        message = refusal(aurora, conn_c=role_on_c(aurora, role, missing, "database_owner"), fallback=False)
    else:
        message = refusal(aurora, conn_c=role_on_c(aurora, role, missing))
    assert "nothing was changed" in message
    assert RIGHTS[missing].format(role=role) in message
    others = [s.format(role=role) for name, s in RIGHTS.items() if name != missing]
    assert [s for s in others if s in message] == []  # the role lacks just that one, and only it is named
    if missing.startswith("pg_"):
        assert f"GRANT rds_superuser TO {role}, run as the master user" in message
    nothing_created(aurora)


def test_a_role_c_has_but_pgshift_does_not_administer_is_refused(aurora):
    """A role in scope made on C beforehand by another role: the master user cannot alter it until given ADMIN."""
    aurora.sql(aurora.a, "CREATE ROLE pf_owner NOLOGIN")
    aurora.sql(aurora.c, "CREATE ROLE pf_owner NOLOGIN")  # as rdsadmin, standing for AWS or another DBA
    try:
        message = refusal(aurora, extra_roles=["pf_owner"])
        assert "GRANT pf_owner TO postgres WITH ADMIN OPTION" in message
        nothing_created(aurora)
        aurora.sql(aurora.c, "GRANT pf_owner TO postgres WITH ADMIN OPTION")
        facts = ChainPreflightOperator(task_id="preflight", config=values(aurora, extra_roles=["pf_owner"])).execute({})
        assert "pf_owner" in facts["roles"]["roles"] and facts["c_role"]["roles_without_admin"] == []
    finally:
        aurora.sql(aurora.c, "DROP ROLE pf_owner")
        aurora.sql(aurora.a, "DROP ROLE pf_owner")


def test_the_master_user_in_scope_is_refused_to_another_role(aurora):
    """A's postgres maps to C's master user: a conn_c role other than it would have to alter the master user."""
    message = refusal(aurora, conn_c=role_on_c(aurora, "pf_other"), exclude_roles=[])
    assert "GRANT postgres TO pf_other WITH ADMIN OPTION" in message
    assert "exclude_roles" in message


def test_the_fallbacks_rights_are_not_needed_without_the_way_back(aurora):
    conn_c = role_on_c(aurora, "pf_no_signal", "pg_signal_backend", "database_owner")
    ChainPreflightOperator(task_id="preflight", config=values(aurora, conn_c=conn_c, fallback=False)).execute({})


def test_a_subscription_connection_without_password_is_refused(aurora):
    os.environ["AIRFLOW_CONN_AURORA_PF_NOPASS"] = f"postgresql://replicator@127.0.0.1:{aurora.b.port}/{DATABASE}"
    message = refusal(aurora, conn_b_subscription="aurora_pf_nopass")
    assert "connection aurora_pf_nopass (C's subscription reads B with it) has no password" in message
    assert "password_required" in message


def test_the_dag_stops_at_preflight(aurora):
    """The DAG with a conn_c role lacking pg_create_subscription: preflight fails, no later task runs."""
    role = "pf_dag_no_sub"
    conns = {k: v for k, v in values(aurora).items() if k.startswith("conn_") or k == "exclude_roles"}
    conf = chain_conf(aurora, **{**conns, "conn_c": role_on_c(aurora, role, "pg_create_subscription")})
    dag_run = run_dag(conf)
    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["preflight"] == "failed"
    # Only what comes before it: reading the params and choosing the action.
    assert {t for t, s in states.items() if s == "success"} == {"configuration", "choose_action"}
    nothing_created(aurora)
