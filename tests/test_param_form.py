"""Every param of both DAGs submits from the UI's trigger form with its default, and bad names are refused.

The form (Airflow 3.3.2) treats a param as required unless its type allows null, and an empty string as
missing: a ``Param("", type="string")`` keeps the Trigger button disabled. So a default must be valid
against its own schema, and a non-nullable string default must not be empty. The browser test drives the
real form; this one checks every param of both DAGs without a browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


@pytest.mark.parametrize("dag_id", ["hybrid_aurora_migration", "citus_scale_out"])
def test_every_default_submits_from_the_form(dags: dict[str, Any], dag_id: str) -> None:
    params = dags[dag_id].params
    refused = []
    for name in params:
        param = params.get_param(name)
        schema, default = param.schema, param.value
        try:
            jsonschema.validate(default, schema)
        except jsonschema.ValidationError as exc:
            refused.append(f"{name}: default {default!r} is invalid: {exc.message}")
        if "null" not in _types(schema) and default in ("", None):
            refused.append(f"{name}: the form counts {default!r} as missing (make the type nullable)")
        if not schema.get("title"):
            refused.append(f"{name}: no title for the form")
    assert refused == []


@pytest.mark.parametrize(("name", "value"), [
    ("slot_name", "x'; drop table t; --"),
    ("publication_name", "Pub"),
    ("subscription_name", "s" * 64),
    ("physical_slot_name", ""),
    ("app_roles", ["app", "App"]),
    ("dms_task_id", "1-task"),
])
def test_bad_names_are_refused_by_the_schema(dags: dict[str, Any], name: str, value: Any) -> None:
    """The same JSON schema refuses them at ``POST /dagRuns`` (400) before a run exists."""
    schema = dags["hybrid_aurora_migration"].params.get_param(name).schema
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, schema)


@pytest.mark.parametrize(("name", "value"), [
    ("slot_name", "pgshift_c_logical_2"), ("app_roles", ["app", "app_2"]), ("ssh_conn_id", None),
    ("ssh_conn_id", "pgshift_ssh_b"), ("report_dir", None), ("dms_task_id", "pgshift-b-to-c-2"),
])
def test_good_values_pass_the_schema(dags: dict[str, Any], name: str, value: Any) -> None:
    jsonschema.validate(value, dags["hybrid_aurora_migration"].params.get_param(name).schema)
