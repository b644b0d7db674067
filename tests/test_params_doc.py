"""docs/params.md is generated from the DAGs' Params: it fails here, with the command to run, when it is stale."""

from __future__ import annotations

import re

import params_doc
import pytest


@pytest.fixture(scope="module")
def page() -> str:
    return params_doc.render()


def test_params_page_is_current(page: str) -> None:
    committed = params_doc.PAGE.read_text() if params_doc.PAGE.exists() else ""
    if committed != page:
        old, new = committed.splitlines(), page.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        pytest.fail(f"docs/params.md is stale (first difference at line {line + 1}): run `make docs` and commit "
                    "docs/params.md", pytrace=False)


def test_every_param_has_a_row_with_its_recorded_flag(page: str) -> None:
    """Each DAG's every param is in its part of the page, and the migration's rows say what the record keeps."""
    parts = re.split(r"^## ", page, flags=re.M)[1:]
    dags = {dag.dag_id: dag for relative, _ in params_doc.DAG_FILES for dag in params_doc.load_dags(relative)}
    assert sorted(part.split("\n", 1)[0].strip("`") for part in parts) == sorted(dags)
    recorded = params_doc.recorded_keys()
    for part in parts:
        dag = dags[part.split("\n", 1)[0].strip("`")]
        rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_]+)` \|.*$", part, flags=re.M)}
        assert sorted(rows) == sorted(dag.params)
        if dag.dag_id == "hybrid_aurora_migration":
            assert recorded <= set(rows), f"recorded keys that are no param: {sorted(recorded - set(rows))}"
            for name, row in rows.items():
                assert row.split(" | ")[-2] == ("yes" if name in recorded else "no"), row
