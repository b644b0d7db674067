"""Parsing a DAG file loads no heavy library: the dag-processor re-parses every file every 30 s.

paramiko, asyncssh, boto3/botocore, psycopg2, matplotlib, more of sqlalchemy or jsonschema than ``airflow.sdk``
loads, and the provider hooks (``parse_probe.HEAVY_MODULES``, the list bench/parse_time.py reports) are imported
where a task runs (execute(), a check, a trigger), never by the import of a DAG file. Each file is parsed in a
fresh interpreter, after ``import airflow.sdk`` as in the dag-processor; a failure names the module and the
chain of imports from the DAG file that loaded it. Time-free: bench/parse_time.py reports the times.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from parse_probe import DAG_FILES, HEAVY_MODULES, parse_fresh


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.stem for f in DAG_FILES])
def test_parsing_a_dag_file_loads_no_heavy_module(dag_file: Path) -> None:
    parsed = parse_fresh(dag_file, trace=True)
    assert parsed.dags == [dag_file.stem]
    assert parsed.heavy == [], f"parsing {dag_file.name} imported heavy modules:\n{parsed.explain()}"


def test_the_probe_names_a_heavy_import_and_its_chain(tmp_path: Path) -> None:
    """The guard itself: a DAG file that imports a hook at the top is caught, with the chain to the driver."""
    dag_file = tmp_path / "heavy_dag.py"
    dag_file.write_text(
        "from airflow.sdk import DAG\n"
        "from pgshift.hooks.postgres import PgShiftHook  # the driver at parse time: what the guard is for\n"
        "with DAG('heavy_dag', schedule=None) as dag:\n"
        "    pass\n")
    parsed = parse_fresh(dag_file, trace=True)
    assert parsed.dags == ["heavy_dag"]
    assert "psycopg2" in parsed.heavy and set(parsed.heavy) <= set(HEAVY_MODULES)
    chain = parsed.chains["psycopg2"]
    assert chain[0] == "heavy_dag.py" and chain[1] == "pgshift.hooks.postgres"
    assert chain[-1] == "psycopg2" or chain[-1].startswith("psycopg2."), chain
    assert "psycopg2:" in parsed.explain() and " -> pgshift.hooks.postgres -> " in parsed.explain()
