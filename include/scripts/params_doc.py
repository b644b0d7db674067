"""Write docs/params.md from the DAGs' own Params: ``make docs``.

The page is generated so that it cannot drift from the trigger form: every name, title, type, default,
allowed value, limit and description comes from the ``Param`` objects of the DAGs, grouped by their
``section`` as the form groups them. tests/test_params_doc.py regenerates it in memory and fails when the
committed page is stale.

The DAG files are loaded by path, as the dag-processor parses them (no Airflow database, no server); the
Params are read from each module's DAG objects (``dag.params``), so the page follows the DAG wherever the
``Param`` definitions live.

Usage: ``python include/scripts/params_doc.py`` writes the page; ``--check`` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "params.md"
# (DAG file, whether the migration's chain record applies to its params)
DAG_FILES: tuple[tuple[str, bool], ...] = (
    ("dags/hybrid_aurora_migration.py", True),
    ("dags/citus_scale_out.py", False),
)
COMMAND = "make docs"
# The trigger form's name for params without a section (Airflow 3.3.2's UI).
DEFAULT_SECTION = "Run Parameters"
LIMIT_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
              "minItems", "maxItems")
SHOWN_KEYS = {"type", "title", "section", "description", "enum", "values_display", "examples", "items",
              "propertyNames", "additionalProperties", *LIMIT_KEYS, "$schema"}  # $schema: the draft, not a limit


def recorded_keys() -> frozenset[str]:
    """The params the chain record keeps (the migration's configuration module is their one definition)."""
    from pgshift.migration.configuration import RECORDED_KEYS

    return frozenset(RECORDED_KEYS)


def load_dags(relative: str) -> list[Any]:
    """The DAG objects a DAG file defines, imported by path as the dag-processor does."""
    from airflow.sdk import DAG

    path = ROOT / relative
    name = f"_pgshift_params_doc_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    dags = [value for value in vars(module).values() if isinstance(value, DAG)]
    if not dags:
        raise SystemExit(f"{relative} defines no DAG")
    return dags


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _prose(text: str) -> str:
    """Free text (a title, a description) safe in a cell: ``<timestamp>`` is not an HTML tag, ``rds_*`` no
    emphasis."""
    return _cell(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{_cell(text)}`"


def _type(schema: Mapping[str, Any]) -> str:
    kinds = schema.get("type", "any")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    shown = [kind for kind in kinds if kind != "null"] + (["null"] if "null" in kinds else [])
    text = " or ".join(shown)
    items = schema.get("items")
    if isinstance(items, Mapping) and "type" in items:
        text += f" of {items['type']}"
    return text


def _size(value: Any) -> str:
    """A byte count as the README states it (16 MiB), when it is a whole number of KiB/MiB/GiB."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return ""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value % size == 0:
            return f" ({value // size} {unit})"
    return ""


def _default(name: str, value: Any) -> str:
    if value is None:
        return "none"
    return _code(value) + (_size(value) if name.endswith("_bytes") else "")


def _limits(schema: Mapping[str, Any]) -> list[str]:
    return [f"{key} {_code(schema[key])}" for key in LIMIT_KEYS if key in schema]


def _allowed(schema: Mapping[str, Any]) -> str:
    """Allowed values (enum, with the form's labels) and limits, including those of items, keys and values."""
    parts: list[str] = []
    if "enum" in schema:
        labels: Mapping[str, str] = schema.get("values_display") or {}
        parts.append(", ".join(f"{_code(v)} ({_prose(labels[v])})" if v in labels else _code(v)
                               for v in schema["enum"]))
    parts += _limits(schema)
    for key, prefix in (("items", "each item: "), ("propertyNames", "each key: "),
                        ("additionalProperties", "each value: ")):
        nested = schema.get(key)
        if isinstance(nested, Mapping):
            shown = ([_type(nested)] if key == "additionalProperties" and "type" in nested else [])
            shown += _limits(nested)
            nested_items = nested.get("items")
            if isinstance(nested_items, Mapping):
                shown += [f"each item {limit}" for limit in _limits(nested_items)]
            if shown:
                parts.append(prefix + ", ".join(shown))
    if "examples" in schema:
        parts.append("e.g. " + ", ".join(_code(v) for v in schema["examples"]))
    unknown = sorted(set(schema) - SHOWN_KEYS)
    parts += [f"{key} {_code(schema[key])}" for key in unknown]
    return "; ".join(parts)


def _sections(params: Any) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    for name in params:
        section = params.get_param(name).schema.get("section") or DEFAULT_SECTION
        sections.setdefault(section, []).append(name)
    return sections


def render_dag(dag: Any, recorded: frozenset[str] | None) -> list[str]:
    """The page's part for one DAG: one table per section, in the form's order."""
    params = dag.params
    lines = [f"## `{dag.dag_id}`", ""]
    if recorded is not None:
        lines += ["*Recorded*: kept in the chain record by setup and used by later runs without conf "
                  "([operations.md](operations.md#the-chain-record)); the others apply to one run only.", ""]
    lines += ["Sections: " + ", ".join(_section_link(dag.dag_id, s) for s in _sections(params)) + ".", ""]
    head = ["Param", "Title", "Type", "Default", "Allowed values and limits"]
    if recorded is not None:
        head.append("Recorded")
    head.append("Description")
    for section, names in _sections(params).items():
        lines += [f"### {dag.dag_id}: {section}", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        for name in names:
            param = params.get_param(name)
            schema = param.schema
            row = [_code(name), _prose(schema.get("title") or ""), _type(schema), _default(name, param.value),
                   _allowed(schema)]
            if recorded is not None:
                row.append("yes" if name in recorded else "no")
            row.append(_prose(param.description or ""))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading (lower case, punctuation other than - and _ dropped, spaces to -)."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _section_link(dag_id: str, section: str) -> str:
    return f"[{section}](#{_slug(f'{dag_id}: {section}')})"


def render(dags: Iterable[tuple[Any, bool]] | None = None) -> str:
    """The whole page: each DAG given with whether the chain record applies to it (default: DAG_FILES)."""
    pairs = list(dags) if dags is not None else [
        (dag, chain) for relative, chain in DAG_FILES for dag in load_dags(relative)]
    recorded = recorded_keys()
    lines = [
        "# Params reference",
        "",
        f"<!-- Generated by include/scripts/params_doc.py from the DAGs' Params: do not edit; run `{COMMAND}`. -->",
        "",
        "Every param of both DAGs, as the trigger form and the REST API see it: grouped by the form's sections, "
        "with its schema. The JSON schema is checked when a run is created: the REST API answers 400 and the "
        "form marks the field before any run exists. Every default submits from the form: an optional value's "
        "type allows null (none = not set). Generated from the DAG files; "
        f"`{COMMAND}` writes it again and `tests/test_params_doc.py` fails when it is stale.",
        "",
        "DAGs: " + ", ".join(f"[`{d.dag_id}`](#{_slug(d.dag_id)})" for d, _ in pairs) + ".",
        "",
    ]
    for dag, chain in pairs:
        lines += render_dag(dag, recorded if chain else None)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/params.md is not what it would write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pgshift-params-doc-") as home:
        # Airflow writes its config and log folders under AIRFLOW_HOME on import: not into the user's home.
        os.environ.setdefault("AIRFLOW_HOME", home)
        text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
