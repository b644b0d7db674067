"""citus_scale_out's input checks, without any server."""

from __future__ import annotations

import pytest

from pgshift.citus.params import Worker, input_problems, parse_clone_specs, parse_worker, parse_workers

GOOD = {"coordinator_conn_id": "citus_coordinator", "new_workers": ["10.0.0.13:5432"],
        "rebalance_strategy": "by_disk_size", "shard_transfer_mode": "auto", "drain_only": False, "dry_run": False,
        "verify_row_counts": True, "max_background_task_executors_per_node": None, "rebalance_timeout_minutes": 360,
        "statement_timeout_seconds": 600, "connect_timeout_seconds": 10, "poll_interval_seconds": 10}


@pytest.mark.parametrize(("spec", "worker"), [
    ("10.0.0.13:5432", Worker("10.0.0.13", 5432)),
    (" worker-3.db.internal:6432 ", Worker("worker-3.db.internal", 6432)),
    ("[fd00::13]:5432", Worker("fd00::13", 5432)),
])
def test_parses_host_port(spec, worker):
    assert parse_worker(spec) == worker


@pytest.mark.parametrize(("spec", "says"), [
    ("db3:54x2", "the port '54x2' is not a number from 1 to 65535"),
    ("db3:0", "the port '0' is not a number from 1 to 65535"),
    ("db3:70000", "the port '70000' is not a number from 1 to 65535"),
    ("db3", "'db3' is not host:port"),
    ("fd00::13:5432", "'fd00::13:5432' is not host:port"),
    ("db 3:5432", "'db 3:5432' is not host:port"),
    (":5432", "':5432' is not host:port"),
    (5432, "5432 is not host:port"),
])
def test_refuses_what_is_not_host_port(spec, says):
    with pytest.raises(ValueError) as err:
        parse_worker(spec)
    assert says in str(err.value)


def test_worker_lists_accept_a_string_and_refuse_duplicates():
    workers, problems = parse_workers("a:1, b:2 a:1")
    assert workers == [Worker("a", 1), Worker("b", 2)]
    assert problems == ["new_workers: a:1 is listed twice"]
    assert str(Worker("fd00::1", 5432)) == "[fd00::1]:5432"


def test_good_input_has_no_problem():
    assert input_problems(GOOD) == []


@pytest.mark.parametrize(("change", "says"), [
    ({"rebalance_timeout_minutes": -5}, "rebalance_timeout_minutes must be greater than zero, got -5"),
    ({"connect_timeout_seconds": "soon"}, "connect_timeout_seconds must be a number, got 'soon'"),
    ({"new_workers": []}, "new_workers is empty: give at least one host:port"),
    ({"new_workers": ["db3:54x2"]}, "new_workers: 'db3:54x2': the port '54x2' is not a number from 1 to 65535"),
    ({"shard_transfer_mode": "fast"}, "shard_transfer_mode 'fast' is not one of auto, force_logical, block_writes"),
    ({"max_background_task_executors_per_node": 0}, "max_background_task_executors_per_node must be empty"),
    ({"rebalance_strategy": ""}, "rebalance_strategy must be a non-empty name"),
    ({"coordinator_conn_id": "no spaces please"}, "is not an Airflow connection id"),
    ({"dry_run": "yes"}, "dry_run must be true or false, got 'yes'"),
])
def test_each_bad_input_is_named(change, says):
    problems = input_problems({**GOOD, **change})
    assert len(problems) == 1
    assert says in problems[0]


def test_drain_only_needs_no_new_worker():
    assert input_problems({**GOOD, "new_workers": [], "drain_only": True}) == []


@pytest.mark.parametrize(("change", "says"), [
    ({"method": "fast"}, "method 'fast' is not one of rebalance, clone"),
    ({"new_workers": ["10.0.0.13:5432=10.0.0.11:5432"]}, "new_workers: host:port=source is only for method clone"),
    ({"method": "clone", "clone_data_dir": None},
     "clone_data_dir is empty: method clone needs the new node's data directory"),
    ({"method": "clone", "new_workers": ["10.0.0.13:5432=10.0.0.13:5432"]},
     "new_workers: 10.0.0.13:5432 cannot be a clone of itself"),
    ({"method": "clone", "new_workers": ["10.0.0.13:5432=10.0.0.14:5432", "10.0.0.14:5432"]},
     "new_workers: 10.0.0.14:5432 is a new node, it cannot be the source of 10.0.0.13:5432"),
    ({"method": "clone", "drain_only": True}, "drain_only cannot be combined with method clone"),
])
def test_clone_input_is_checked(change, says):
    base = {"new_workers": ["10.0.0.13:5432"], "clone_data_dir": "/var/lib/postgresql/17/main",
            "clone_bin_dir": "/usr/lib/postgresql/17/bin"}
    problems = input_problems({**GOOD, **base, **change})
    assert any(p.startswith(says) for p in problems), problems


def test_clone_specs_name_their_source_or_leave_it_to_preflight():
    pairs, problems = parse_clone_specs(["10.0.0.13:5432=10.0.0.11:5432", "[fd00::14]:5432"])
    assert problems == []
    assert pairs == [(Worker("10.0.0.13", 5432), Worker("10.0.0.11", 5432)), (Worker("fd00::14", 5432), None)]
    assert input_problems({**GOOD, "method": "clone", "new_workers": ["10.0.0.13:5432=10.0.0.11:5432"],
                           "clone_data_dir": "/d/{port}", "clone_bin_dir": "/b"}) == []
