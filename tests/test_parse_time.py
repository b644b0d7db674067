"""Parsing a DAG file loads no heavy library: the dag-processor re-parses every file every 30 s.

paramiko, asyncssh, boto3/botocore, psycopg2, matplotlib and the provider hooks are imported where a task
runs (execute(), a check, a trigger), never by the import of a DAG file. Each file is parsed in a fresh
interpreter, after ``import airflow.sdk`` as in the dag-processor; bench/parse_time.py reports the times.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from parse_probe import DAG_FILES, parse_fresh


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.stem for f in DAG_FILES])
def test_parsing_a_dag_file_loads_no_heavy_module(dag_file: Path) -> None:
    parsed = parse_fresh(dag_file)
    assert parsed.dags == [dag_file.stem]
    assert parsed.heavy == [], f"parsing {dag_file.name} imported {', '.join(parsed.heavy)}"
