"""What a DMS task is created with: its settings and the table-settings rules of its parallel loads, from the chain's
DMS params (``dms_max_full_load_subtasks``, ``dms_lob_*``, ``dms_parallel_load_*``). Standard library only."""

from __future__ import annotations

from typing import Any

from pgshift.migration.config import ChainConfig, DmsLobMode

TASK_SETTINGS: dict[str, Any] = {
    # Schema is copied to C beforehand (pg_dump --schema-only); a restarted full load starts clean.
    "FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD"},
    "Logging": {"EnableLogging": True},
}


def task_settings(chain: ChainConfig) -> dict[str, Any]:
    """:data:`TASK_SETTINGS` with the chain's parallel full load and LOB mode, as DMS names them."""
    lobs: dict[str, Any] = {"SupportLobs": True, "FullLobMode": chain.dms_lob_mode != DmsLobMode.LIMITED,
                            "LimitedSizeLobMode": chain.dms_lob_mode == DmsLobMode.LIMITED}
    if chain.dms_lob_mode == DmsLobMode.LIMITED:
        lobs["LobMaxSize"] = chain.dms_lob_max_size_kb
    else:
        lobs["LobChunkSize"] = chain.dms_lob_chunk_size_kb
    if chain.dms_lob_mode == DmsLobMode.INLINE:
        lobs["InlineLobMaxSize"] = chain.dms_inline_lob_max_size_kb
    return {**TASK_SETTINGS, "TargetMetadata": lobs,
            "FullLoadSettings": {**TASK_SETTINGS["FullLoadSettings"],
                                 "MaxFullLoadSubTasks": chain.dms_max_full_load_subtasks}}


def parallel_load_rules(chain: ChainConfig, first_id: int) -> list[dict[str, Any]]:
    """DMS table-settings rules for the tables the chain loads in parallel: by partition, or by ranges of columns
    (the boundaries of every column taken one from each, in order)."""
    loads: list[tuple[str, dict[str, Any]]] = [(name, {"type": "partitions-auto"})
                                               for name in chain.dms_parallel_load_partitions]
    loads += [(name, {"type": "ranges", "columns": list(columns),
                      "boundaries": [list(bound) for bound in zip(*columns.values(), strict=True)]})
              for name, columns in chain.dms_parallel_load_ranges.items()]
    rules = []
    for rule_id, (name, load) in enumerate(loads, start=first_id):
        schema, _, table = name.partition(".")
        rules.append({"rule-type": "table-settings", "rule-id": str(rule_id), "rule-name": f"pgshift-{rule_id}",
                      "object-locator": {"schema-name": schema, "table-name": table}, "parallel-load": load})
    return rules
