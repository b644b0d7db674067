"""pgshift as an installable Airflow provider: its metadata, its public API, its packaged SQL, and the wheel
installed into a fresh venv outside the checkout."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import pgshift
from pgshift.common import sql
from pgshift.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "plugins" / "pgshift"
DIST = "airflow-provider-pgshift"
SQL_CALLS = {"fetch", "fetch_one", "scalar", "execute", "compose", "load"}


def _provider_modules(info: dict, kind: str) -> set[str]:
    return {module for entry in info.get(kind, []) for module in entry["python-modules"]}


def test_provider_info_follows_airflow_schema() -> None:
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == DIST
    assert info["versions"][0] == pgshift.__version__ == distribution(DIST).version


def test_provider_info_lists_every_hook_operator_sensor_and_trigger_module() -> None:
    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        listed = _provider_modules(info, kind)
        present = {f"pgshift.{kind}.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE / kind)])}
        assert listed == present, f"{kind}: listed {sorted(listed)}, in the package {sorted(present)}"
        for module in listed:
            importlib.import_module(module)
    integrations = {i["integration-name"] for i in info["integrations"]}
    for kind in ("hooks", "operators", "sensors", "triggers"):
        assert {e["integration-name"] for e in info[kind]} <= integrations
    for dotted in [c["hook-class-name"] for c in info["connection-types"]] + info["notifications"]:
        module, _, name = dotted.rpartition(".")
        assert getattr(importlib.import_module(module), name)
    citus = importlib.import_module("pgshift.citus.hook").CitusHook
    assert citus.conn_type == "citus" and info["connection-types"][0]["hook-name"] == citus.hook_name


def test_the_entry_point_names_get_provider_info() -> None:
    (entry,) = [e for e in distribution(DIST).entry_points if e.group == "apache_airflow_provider"]
    assert entry.load() is get_provider_info


def test_public_api_resolves_and_unknown_names_fail() -> None:
    assert sorted(pgshift.__all__) == sorted(["__version__", *pgshift._EXPORTS])
    for name in pgshift.__all__:
        assert getattr(pgshift, name) is not None, name
    assert pgshift.CutoverOperator is importlib.import_module("pgshift.migration.operators.cutover").CutoverOperator
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = pgshift.Nope  # type: ignore[attr-defined]


def test_requirements_pins_satisfy_the_package_ranges() -> None:
    """requirements.txt (what this repository tests) must be inside the ranges the package declares."""
    pins = {}
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for dep in distribution(DIST).requires or []:
        req = Requirement(dep)
        name = req.name.lower()
        if req.marker is None or name in pins:
            assert name in pins, f"{name} is a dependency of the package but not pinned in requirements.txt"
            assert req.specifier.contains(pins[name]), f"requirements.txt pins {name}=={pins[name]}, outside {req}"


def _sql_names_called() -> dict[str, list[str]]:
    """Literal first arguments of hook.fetch/fetch_one/scalar/execute and sql.compose/load, by where they are."""
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in SQL_CALLS:
                found.setdefault(node.args[0].value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _sql_files() -> dict[str, list[str]]:
    """Every packaged SQL name, with the domain sql packages that ship it."""
    found: dict[str, list[str]] = {}
    for package in sql.PACKAGES:
        for name in sql.names(package):
            found.setdefault(name, []).append(package)
    return found


def test_every_sql_name_has_a_file_and_every_file_is_used() -> None:
    shipped = _sql_files()
    twice = {name: packages for name, packages in shipped.items() if len(packages) > 1}
    assert not twice, f"SQL names shipped by more than one domain: {twice}"
    files = set(shipped)
    called = _sql_names_called()
    missing = {name: where for name, where in called.items() if name not in files}
    assert not missing, f"SQL names without a file in a pgshift sql package: {missing}"
    literals = {node.value for path in PACKAGE.rglob("*.py")
                for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)}
    unused = sorted(files - literals)
    assert not unused, f"SQL files nothing in the package names: {unused}"
    assert len(files) > 50 and called


HOOK_MODULES = ("plugins/pgshift/common/hooks/", "plugins/pgshift/migration/hooks/", "plugins/pgshift/citus/hook.py")


def test_sql_names_appear_only_in_hook_modules() -> None:
    """Everything outside the hooks calls the hooks' typed methods, never a SQL file by name."""
    outside = {name: spots for name, where in _sql_names_called().items()
               if (spots := [w for w in where if not w.startswith(HOOK_MODULES)])}
    assert not outside, f"SQL file names used outside the hook modules {HOOK_MODULES}: {outside}"


def test_sql_loads_by_name_and_refuses_an_unknown_one() -> None:
    migration = "pgshift.migration.sql"
    assert sql.load("current_wal_lsn", migration) == (PACKAGE / "migration" / "sql" / "current_wal_lsn.sql").read_text()
    # a domain's hook also runs the base hook's statements, which are in the common package
    assert sql.load("server_facts", migration) == (PACKAGE / "common" / "sql" / "server_facts.sql").read_text()
    with pytest.raises(FileNotFoundError, match="no SQL file named 'current_wal_lsn'"):
        sql.load("current_wal_lsn")  # the common package alone does not ship the migration's statements
    with pytest.raises(FileNotFoundError, match="no SQL file named 'no_such_query'"):
        sql.load("no_such_query")


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv[:3])}… exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installed_in_a_fresh_venv_outside_the_checkout(clusters, tmp_path: Path) -> None:
    """The built wheel, installed with its dependencies into a new venv (offline, from uv's cache that
    `make install` filled) and run from a directory that holds only the DAG files: Airflow lists the provider,
    both DAGs parse, and the hook runs a named SQL file against a real server."""
    uv = str(Path(sys.executable).parent / "uv")
    wheels, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work"
    _run([uv, "build", "--wheel", "--no-build-isolation", "--python", sys.executable, "-o", str(wheels), str(ROOT)],
         ROOT, dict(os.environ))
    (wheel,) = wheels.glob("airflow_provider_pgshift-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, dict(os.environ))
    python = str(venv / "bin" / "python")
    _run([uv, "pip", "install", "-q", "--offline", "--python", python, str(wheel), "-c",
          str(ROOT / "requirements.txt")], tmp_path, dict(os.environ))

    dags = work / "dags"
    dags.mkdir(parents=True)
    for dag_file in (ROOT / "dags").glob("*.py"):
        shutil.copy(dag_file, dags)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
    env.update({"AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PGSHIFT_DEADLINE": "on",
                **clusters.airflow_connections()})

    listed = _run([str(venv / "bin" / "airflow"), "providers", "list"], work, env)
    assert any(line.split("|")[0].strip() == DIST and f"| {pgshift.__version__}" in line
               for line in listed.splitlines()), listed

    probe = textwrap.dedent(f"""
        import json, pgshift
        from airflow.dag_processing.dagbag import DagBag
        from pgshift.migration.hooks.primary import PrimaryHook  # the provider path, and the migration's sql package
        bag = DagBag(dag_folder={str(dags)!r})
        with PrimaryHook("pgshift_a") as a:
            lsn = a.scalar("current_wal_lsn")
        print(json.dumps({{"file": pgshift.__file__, "dags": sorted(bag.dag_ids),
                          "errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "lsn": str(lsn)}}))
    """)
    seen = json.loads(_run([python, "-c", probe], work, env).strip().splitlines()[-1])
    assert seen["errors"] == {}
    assert seen["dags"] == ["citus_scale_out", "hybrid_aurora_migration", "hybrid_aurora_migration_sync_guard"]
    assert Path(seen["file"]).is_relative_to(venv), seen["file"]
    assert "/" in seen["lsn"], seen["lsn"]
