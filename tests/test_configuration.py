"""The chain's recorded configuration on real servers: a finished setup records it, a run without conf
checks the recorded chain, a run's conf overrides it, and a run with nothing to check says so plainly.

The scenarios share one chain with non-default names and run in file order; the last one cuts it over.
The module leaves the chain reset and the Variable deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from chain_helpers import CaptureFds, chain_conf, run_dag, secrets_in, sql, task_states, wait_c_caught_up
from pgcluster import LocalClusters

from pgshift.common.report import safe_name
from pgshift.migration.configuration import RECORDED_KEYS, merge, record_problems, variable_key

DAG_ID = "hybrid_aurora_migration"
KEY = variable_key(DAG_ID)
NAMES = {"publication_name": "cfg_pub", "physical_slot_name": "cfg_b_physical", "slot_name": "cfg_c_logical",
         "subscription_name": "cfg_sub"}


def recorded() -> dict[str, Any] | None:
    from airflow.models import Variable

    raw = Variable.get(KEY, default_var=None)
    return None if raw is None else json.loads(raw)


def forget() -> None:
    from airflow.models import Variable

    Variable.delete(KEY)


def run(conf: dict[str, Any]) -> tuple[Any, dict[str, str], str]:
    with CaptureFds() as out:
        dag_run = run_dag(conf)
    return dag_run, task_states(dag_run), out.text


def validation_report(reports: Path, dag_run: Any) -> dict[str, Any]:
    return json.loads((reports / "validate" / f"{safe_name(dag_run.run_id)}.json").read_text())


@pytest.fixture(scope="module")
def chain(clusters: LocalClusters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A chain built by setup with its own names and report directory, C caught up."""
    forget()
    clusters.reset_chain()
    reports = tmp_path_factory.mktemp("reports")
    setup, states, text = run(chain_conf(clusters, report_dir=str(reports), **NAMES))
    assert str(setup.state) == "success", (states, text[-3000:])
    wait_c_caught_up(clusters, slot=NAMES["slot_name"])
    yield SimpleNamespace(reports=reports, setup=setup, states=states, log=text)
    forget()
    clusters.reset_chain()


def test_setup_records_the_chain_it_built(clusters: LocalClusters, chain: SimpleNamespace) -> None:
    assert chain.states["record_configuration"] == "success"
    record = recorded()
    assert record is not None
    assert record["dag_id"] == DAG_ID and record["recorded_by_run"] == chain.setup.run_id
    assert record["cut_over"] is None
    config = record["configuration"]
    assert set(config) == set(RECORDED_KEYS)
    assert {k: config[k] for k in NAMES} == NAMES
    assert (config["b_data_dir"], config["b_port"], config["report_dir"]) == \
        (str(clusters.b.data_dir), clusters.b.port, str(chain.reports))
    assert config["conn_a"] == "pgshift_a" and config["mode"] == "native" and config["ssh_conn_id"] is None
    for per_run in ("action", "dry_run", "app_roles", "move_aside_data_dir", "allow_existing_tables_on_c"):
        assert per_run not in config
    assert secrets_in(json.dumps(record), clusters) == []


def test_a_run_without_conf_validates_the_recorded_chain(clusters: LocalClusters, chain: SimpleNamespace) -> None:
    dag_run, states, text = run({})
    assert str(dag_run.state) == "success", text[-3000:]
    assert states["configuration"] == "success" and states["validate"] == "success"
    assert states["preflight"] == "skipped" and states["record_configuration"] == "skipped"
    report = validation_report(chain.reports, dag_run)  # the recorded report_dir
    assert report["problems"] == []
    checked = report["configuration"]
    assert {k: checked["values"][k] for k in NAMES} == NAMES
    assert set(checked["sources"].values()) == {"recorded"}
    assert checked["record"]["recorded_by_run"] == chain.setup.run_id
    assert checked["overridden"] == []
    assert checked["summary"] == (f"recorded by run {chain.setup.run_id} at {checked['record']['recorded_at']} "
                                  f"(Variable {KEY})")
    assert f"Checking the configuration {checked['summary']}" in text
    assert "slot_name='cfg_c_logical' (recorded)" in text


def test_a_conf_key_overrides_the_recorded_value(clusters: LocalClusters, chain: SimpleNamespace) -> None:
    dag_run, states, text = run({"slot_name": "cfg_no_such_slot"})
    assert str(dag_run.state) == "failed"
    assert states["validate"] == "failed"
    assert "B has no replication slot 'cfg_no_such_slot'" in text
    report = validation_report(chain.reports, dag_run)
    assert "B has no replication slot 'cfg_no_such_slot'" in report["problems"]
    checked = report["configuration"]
    assert checked["values"]["slot_name"] == "cfg_no_such_slot"
    assert checked["sources"]["slot_name"] == "conf" and checked["overridden"] == ["slot_name"]
    assert checked["sources"]["subscription_name"] == "recorded"
    assert checked["summary"].endswith("; overridden by this run's conf: slot_name")
    assert "Configuration checked: recorded by run" in text


def test_with_nothing_recorded_a_run_without_conf_says_so(clusters: LocalClusters, chain: SimpleNamespace) -> None:
    from airflow.models import Variable

    saved = recorded()
    forget()
    try:
        dag_run, states, text = run({})
        assert str(dag_run.state) == "failed"
        assert states["configuration"] == "failed"
        assert {states[t] for t in ("choose_action", "validate", "preflight")} == {"upstream_failed"}
        assert (f"no chain to validate yet: no setup has finished for {DAG_ID} (Variable {KEY} is absent); "
                "trigger action=setup first") in text
        assert "connection" not in text.lower().replace("secrets backend", "")
        # With the chain given in its conf, a validation runs all the same.
        dag_run, states, text = run(chain_conf(clusters, action="validate", report_dir=str(chain.reports), **NAMES))
        assert str(dag_run.state) == "success", text[-3000:]
        checked = validation_report(chain.reports, dag_run)["configuration"]
        assert checked["record"] is None and checked["summary"].startswith("nothing recorded")
        assert checked["sources"]["slot_name"] == "conf" and checked["sources"]["conn_a"] == "default"
    finally:
        Variable.set(KEY, saved, serialize_json=True)


def test_a_cutover_marks_the_record_and_validation_then_skips(clusters: LocalClusters,
                                                              chain: SimpleNamespace) -> None:
    before = recorded()
    # No name, no path in the conf: the cutover finds the chain through the record. Without the way back, so that
    # nothing is left to validate (an armed way back is validated: tests/test_validation_after_cutover.py).
    dag_run, states, text = run({"action": "cutover", "app_roles": ["app"], "dry_run": False, "gate_readings": 2,
                                 "gate_interval_seconds": 0.2, "fallback": False})
    assert str(dag_run.state) == "success", text[-3000:]
    assert states["publish_migration"] == "success"
    cutover = json.loads((chain.reports / "cutover" / safe_name(dag_run.run_id) / "report.json").read_text())
    assert cutover["status"] == "ready"
    assert sql(clusters, clusters.c, "SELECT count(*) FROM pg_subscription") == [(0,)]  # cfg_sub was dropped
    record = recorded()
    assert record["cut_over"]["by_run"] == dag_run.run_id
    assert {k: record[k] for k in ("recorded_at", "recorded_by_run", "configuration")} == \
        {k: before[k] for k in ("recorded_at", "recorded_by_run", "configuration")}

    dag_run, states, text = run({})
    assert str(dag_run.state) == "success"
    assert {states[t] for t in ("configuration", "choose_action", "validate")} == {"skipped"}
    assert (f"the chain was cut over to C at {record['cut_over']['at']} by run {record['cut_over']['by_run']}; "
            "nothing to validate; pause the DAG or run setup for a new chain") in text

    # A manual validation that names the chain still runs (and finds it gone).
    dag_run, states, _ = run(chain_conf(clusters, action="validate", **NAMES))
    assert states["configuration"] == "success" and states["validate"] == "failed"


def test_merge_rules() -> None:
    """Setup takes every conf key it is given; validate and cutover only those that differ from the DAG
    default, since the UI's trigger form submits every param."""
    defaults = {"slot_name": "pgshift_c_logical", "ssh_conn_id": None, "b_port": 5432}
    record = {"recorded_at": "t", "recorded_by_run": "r", "cut_over": None,
              "configuration": {"slot_name": "mine", "ssh_conn_id": "ssh_b", "b_port": 5433}}
    form = {"slot_name": "pgshift_c_logical", "ssh_conn_id": None, "b_port": 6000}
    validate = merge(DAG_ID, "validate", defaults, record, form)
    assert (validate.values["slot_name"], validate.values["ssh_conn_id"], validate.values["b_port"]) == \
        ("mine", "ssh_b", 6000)
    assert validate.overridden == ["b_port"] and validate.kept_over_conf == ["ssh_conn_id", "slot_name"]
    setup = merge(DAG_ID, "setup", defaults, record, form)
    assert (setup.values["slot_name"], setup.values["ssh_conn_id"]) == ("pgshift_c_logical", None)
    assert setup.sources["conn_a"] == "default" and setup.sources["slot_name"] == "conf"
    assert merge(DAG_ID, "setup", defaults, record, {}).sources["slot_name"] == "recorded"


def test_a_hand_edited_record_is_checked_against_the_params() -> None:
    from hybrid_aurora_migration import SCHEMAS

    bad = {"configuration": {"slot_name": "x'; drop table t; --", "b_port": 70000, "unknown": 1}}
    problems = record_problems(bad, SCHEMAS)
    assert [p.split(":")[0] for p in problems] == ["slot_name", "b_port"]
    assert record_problems(["not", "a", "record"], SCHEMAS) == ["it is not an object with a 'configuration' object"]


def test_a_cutover_of_no_chain_or_a_finished_one_is_refused() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.migration.configuration import check_chain

    defaults = {"slot_name": "pgshift_c_logical"}
    with pytest.raises(AirflowFailException, match=r"^no chain to cut over yet: no setup has finished"):
        check_chain(merge(DAG_ID, "cutover", defaults, None, {"slot_name": "pgshift_c_logical"}), "cutover")
    done = {"recorded_at": "t", "recorded_by_run": "r", "configuration": {},
            "cut_over": {"at": "T", "by_run": "R"}}
    with pytest.raises(AirflowFailException, match="cut over to C at T by run R; nothing to cut over"):
        check_chain(merge(DAG_ID, "cutover", defaults, done, {}), "cutover")
    check_chain(merge(DAG_ID, "cutover", defaults, done, {"slot_name": "other"}), "cutover")  # names a chain: runs
    check_chain(merge(DAG_ID, "setup", defaults, done, {}), "setup")  # a new chain


def test_configuration_comes_first_and_recording_last() -> None:
    from hybrid_aurora_migration import ACTION_TASKS, build_dag

    dag = build_dag(with_deadline=False)
    assert dag.get_task("choose_action").upstream_task_ids == {"configuration"}
    assert dag.get_task("record_configuration").upstream_task_ids == {"choose_action", "wait_cdc_lag"}
    assert "record_configuration" in ACTION_TASKS["setup"]
    # Every task but the two first hangs off choose_action directly: one scheduler pass skips a whole action.
    assert {t.task_id for t in dag.tasks if "choose_action" not in t.upstream_task_ids} == \
        {"configuration", "choose_action"}
