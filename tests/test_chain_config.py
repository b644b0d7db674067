"""ChainConfig and the DAG's Params cannot drift apart, and ChainConfig.from_values is the one place a value is checked.

No server: these read the DAG's Params and the dataclass.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from dataclasses import fields
from enum import StrEnum
from typing import Any

import pytest
from chain_helpers import chain_config, chain_values
from hybrid_aurora_migration import PARAMS

from pgshift.migration.checks.gate import GateSpec
from pgshift.migration.config import ChainConfig, ConfigError, Mode, Verify
from pgshift.migration.configuration import RECORDED_KEYS

HINTS = typing.get_type_hints(ChainConfig)


def _json_type(kind: Any) -> dict[str, Any]:
    """The JSON schema (type, items, additionalProperties, enum) a field of this annotation takes."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is not None and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return {**_json_type(inner), "type": ["null", _json_type(inner)["type"]]}
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return {"type": "string", "enum": [m.value for m in kind]}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if kind in simple:
        return {"type": simple[kind]}
    if origin is tuple:
        return {"type": "array", "items": _json_type(args[0])}
    if origin is Mapping:
        return {"type": "object", "additionalProperties": _json_type(args[1])}
    raise AssertionError(f"no JSON type for {kind!r}")


def _schema_type(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Param's schema that _json_type describes."""
    out: dict[str, Any] = {"type": schema["type"]}
    if "enum" in schema:
        out["enum"] = schema["enum"]
    if "items" in schema:
        out["items"] = _schema_type(schema["items"])
    if "additionalProperties" in schema:
        out["additionalProperties"] = _schema_type(schema["additionalProperties"])
    return out


def test_the_fields_are_the_dags_params_with_their_types_and_enums() -> None:
    params = [f.name for f in fields(ChainConfig) if f.metadata.get("param", True)]
    assert params == list(PARAMS), "same names, in the same order"
    assert [f.name for f in fields(ChainConfig) if f.name not in params] == ["source"], "the record's, no Param"
    for name, param in PARAMS.items():
        assert _json_type(HINTS[name]) == _schema_type(param.schema), name


def test_the_defaults_make_a_config_and_survive_the_xcom() -> None:
    values = chain_values()
    config = ChainConfig.from_values(values)
    assert config.mode is Mode.NATIVE and config.verify is Verify.DELTA and config.schemas == ()
    assert json.loads(json.dumps(config.as_dict())) == {**values, "source": "a"}  # the record's, no Param
    assert ChainConfig.from_values(json.loads(json.dumps(config.as_dict()))) == config
    assert ChainConfig.from_values(config) is config


def test_the_record_keeps_the_fields_marked_recorded() -> None:
    config = chain_config(slot_name="mine", action="setup", dry_run=False)
    recorded = config.recorded_values()
    assert tuple(recorded) == RECORDED_KEYS
    assert recorded["slot_name"] == "mine" and "action" not in recorded and "dry_run" not in recorded
    assert {"wal_lag_max_bytes", "mode", "memberships_on_c", "fallback"} <= set(RECORDED_KEYS)
    assert not {"app_roles", "move_aside_data_dir", "allow_existing_tables_on_c", "verify"} & set(RECORDED_KEYS)


def test_every_bad_key_is_named_at_once() -> None:
    values = {**chain_values(), "mode": "logical-please", "wal_lag_max_bytes": "16MB", "app_roles": "app",
              "dry_run": "yes", "memberships_on_c": {"app_admin": "rds_superuser"}, "typo_key": 1}
    del values["slot_name"]
    with pytest.raises(ConfigError) as err:
        ChainConfig.from_values(values)
    assert err.value.problems == [
        "missing: slot_name", "unknown: typo_key",
        "mode: must be one of native, dms, got 'logical-please'",
        "wal_lag_max_bytes: expected an integer, got '16MB'",
        "app_roles: expected a list, got 'app'",
        "memberships_on_c: expected a list, got 'rds_superuser'",
        "dry_run: expected true or false, got 'yes'",
    ]


def test_an_unrendered_template_is_refused_plainly() -> None:
    with pytest.raises(ConfigError, match=r"expected a mapping .* got str: \"\{\{ ti.xcom_pull"):
        ChainConfig.from_values("{{ ti.xcom_pull(task_ids='configuration')['config'] }}")


def test_the_parts_are_derived_under_the_params_names() -> None:
    config = chain_config(mode="dms", wal_lag_max_bytes=1024, wal_lag_max_seconds=2.5, cdc_lag_max_bytes=2048,
                          physical_slot_name="phys", slot_name="logical", dms_task_id="task")
    assert config.slot_plugin == "test_decoding"
    limits = config.limits()
    assert (limits.wal_lag_max_bytes, limits.wal_lag_max_seconds, limits.cdc_lag_max_bytes) == (1024, 2.5, 2048)
    (_, wal_lag), (_, cdc_lag), (last, dms) = GateSpec.of(config).checks
    assert (wal_lag.max_bytes, wal_lag.max_seconds, wal_lag.physical_slot) == (1024, 2.5, "phys")
    assert (cdc_lag.max_bytes, cdc_lag.slot) == (2048, "logical")
    assert last == "dms" and dms.task_id == "task"
    assert config.for_validation().allow_existing_tables_on_c is True


def test_dms_task_settings_out_of_range_or_out_of_scope_are_refused_naming_the_key() -> None:
    values = chain_values(tables=["public.orders", "public.big"], dms_max_full_load_subtasks=50,
                          dms_lob_max_size_kb=0, dms_parallel_load_partitions=["public.big", "orders", "public.other"],
                          dms_parallel_load_ranges={"public.big": {"id": ["10"]},
                                                    "public.orders": {"id": ["10", "20"], "day": ["2026-01-01"]}})
    with pytest.raises(ConfigError) as err:
        ChainConfig.from_values(values)
    assert err.value.problems == [
        "dms_max_full_load_subtasks: must be from 1 to 49, got 50",
        "dms_lob_max_size_kb: must be from 1 to 102400, got 0",
        "dms_parallel_load_partitions: 'orders' is not schema.table",
        "dms_parallel_load_partitions: public.other is not among the tables to migrate (tables, schemas)",
        "dms_parallel_load_ranges: public.big is also in dms_parallel_load_partitions (one way a table)",
        "dms_parallel_load_ranges: public.orders needs one or more columns, each with the same number (at least "
        "one) of boundaries, got {'id': ('10', '20'), 'day': ('2026-01-01',)}",
    ]
    schemas = chain_config(schemas=["sales"], dms_parallel_load_partitions=["sales.orders"])
    assert schemas.dms_parallel_load_partitions == ("sales.orders",)  # a table of a migrated schema is in scope
    everything = chain_config(dms_parallel_load_ranges={"any.table": {"id": ["1"]}})
    assert everything.dms_parallel_load_ranges == {"any.table": {"id": ("1",)}}  # no scope: every table
