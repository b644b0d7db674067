"""docker-compose.yaml, checked offline: Docker cannot run where the tests run.

The file is validated against the Compose Specification schema that check-jsonschema ships, before
and after ${VAR} interpolation with the values of .env.example. Then this module checks what the
schema cannot: every depends_on names a service that can satisfy its condition, every mounted path
and build input exists in the repository, every variable has a value in .env.example, the images
match the versions the requirements pin, and every connection id the DAGs use by default is defined
for Airflow and points at a service of the stack with that service's credentials.

Nothing here needs a running server, Docker or an Airflow database.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCS = ROOT / "docs" / "docker.md"
DAGS = ROOT / "dags"
AIRFLOW_IMAGE = "pgshift-airflow:3.3.2"

# Used when a DAG file does not exist yet (or names its connections some other way).
FALLBACK_CONN_IDS = {
    "hybrid_aurora_migration.py": {"pgshift_a", "pgshift_a_replication", "pgshift_b", "pgshift_b_replication",
                                   "pgshift_c", "aws_default"},
    "citus_scale_out.py": {"citus_coordinator"},
}
# Not a DAG default (ssh_conn_id is empty by default: "run on the worker"), but docs/docker.md
# passes it to hybrid_aurora_migration, so the stack must define it.
DOCKER_CONN_IDS = {"pgshift_ssh_b"}
# pg-b starts empty and becomes a physical copy of pg-a: it has pg-a's roles and passwords.
COPY_OF = {"pg-b": "pg-a"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --------------------------------------------------------------------------- .env and interpolation
def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for number, raw_line in enumerate(path.read_text().splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{path.name}:{number}: not NAME=value: {line!r}")
        env[name] = value
    return env


_REFERENCE = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?", re.S)


class InterpolationError(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, ${VAR:+r}, ${VAR+r}.

    A variable with no value and no default is an error here (Compose would warn and use "").
    """

    def one(match: re.Match) -> str:
        if match["dollar"]:
            return "$"
        if match["plain"]:
            name, op, arg = match["plain"], None, None
        else:
            parts = _BRACED.fullmatch(match["braced"])
            if not parts:
                raise InterpolationError(f"invalid interpolation ${{{match['braced']}}}")
            name, op, arg = parts["name"], parts["op"], parts["arg"]
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and not value):
                raise InterpolationError(f"{name} is required: {arg}")
            return value
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return "" if value is None else arg
        if value is None:
            raise InterpolationError(f"{name} has no value and no default")
        return value

    return _REFERENCE.sub(one, text)


def interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


def references(node) -> list[tuple[str, str | None]]:
    """Every (variable, operator) a compose tree refers to; $$ escapes are not references."""
    found: list[tuple[str, str | None]] = []
    if isinstance(node, str):
        for match in _REFERENCE.finditer(node):
            if match["plain"]:
                found.append((match["plain"], None))
            elif match["braced"] is not None:
                parts = _BRACED.fullmatch(match["braced"])
                found.append((parts["name"], parts["op"]) if parts else (match["braced"], "invalid"))
    elif isinstance(node, list):
        for v in node:
            found += references(v)
    elif isinstance(node, dict):
        for v in node.values():
            found += references(v)
    return found


def load_compose(path: Path = COMPOSE, env_file: Path = ENV_EXAMPLE) -> dict:
    return interpolate_tree(yaml.safe_load(path.read_text()), read_env_file(env_file))


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


# --------------------------------------------------------------------------- the compose checker
def as_depends_on(value) -> dict[str, dict]:
    if value is None:
        return {}
    if isinstance(value, list):
        return {name: {"condition": "service_started"} for name in value}
    return value


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def split_volume(spec) -> tuple[str, str]:
    """(source, target) of a short or long volume entry; source '' for an anonymous volume."""
    if isinstance(spec, dict):
        return str(spec.get("source", "")), str(spec["target"])
    parts = spec.split(":")
    return (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def dockerignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, simplified: the last matching pattern wins, '!' re-includes."""
    ignored = False
    for raw_pattern in patterns:
        negate = raw_pattern.startswith("!")
        pattern = (raw_pattern[1:] if negate else raw_pattern).strip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
            ignored = not negate
    return ignored


def build_problems(name: str, build, root: Path) -> list[str]:
    build = {"context": build} if isinstance(build, str) else build
    context = root / build.get("context", ".")
    if not context.is_dir():
        return [f"{name}: build context {build.get('context')} does not exist"]
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    if not dockerfile.is_file():
        return [f"{name}: Dockerfile {dockerfile.relative_to(root)} does not exist"]
    problems = []
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not ignore_file.exists():
        ignore_file = context / ".dockerignore"
    patterns = [p.strip() for p in ignore_file.read_text().splitlines()
                if p.strip() and not p.strip().startswith("#")] if ignore_file.exists() else []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        for source in args[:-1]:
            if not (context / source).exists():
                problems.append(f"{name}: {dockerfile.relative_to(root)} copies {source}, missing from its context")
            elif dockerignored(source, patterns):
                problems.append(f"{name}: {dockerfile.relative_to(root)} copies {source}, which "
                                f"{ignore_file.relative_to(root)} leaves out of the context")
    return problems


def compose_problems(compose: dict, root: Path = ROOT) -> list[str]:
    """What the Compose schema cannot check. An empty list means the file holds together."""
    problems: list[str] = []
    services: dict[str, dict] = compose.get("services") or {}
    declared_volumes = set(compose.get("volumes") or {})
    one_shots = {name for name, s in services.items() if str(s.get("restart", "no")) == "no"}
    for name, service in services.items():
        if "restart" not in service:
            problems.append(f'{name}: no restart policy (one-shot services say restart: "no")')
        health = service.get("healthcheck")
        if health is None:
            problems.append(f"{name}: no healthcheck (one-shot services say `disable: true`)")
        elif health.get("disable") and name not in one_shots:
            problems.append(f"{name}: healthcheck disabled on a long-running service")
        for dep, spec in as_depends_on(service.get("depends_on")).items():
            condition = (spec or {}).get("condition", "service_started")
            if dep not in services:
                problems.append(f"{name}: depends_on names {dep!r}, which is not a service")
                continue
            if dep == name:
                problems.append(f"{name}: depends on itself")
            if condition not in CONDITIONS:
                problems.append(f"{name}: depends_on {dep} with unknown condition {condition!r}")
            target_health = services[dep].get("healthcheck") or {}
            if condition == "service_healthy" and (not target_health or target_health.get("disable")):
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if condition == "service_completed_successfully" and dep not in one_shots:
                problems.append(f"{name}: waits for {dep} to complete, but {dep} restarts (restart: "
                                f"{services[dep].get('restart')})")
        for spec in service.get("volumes") or []:
            source, target = split_volume(spec)
            if is_bind(source):
                path = (root / source).resolve() if not source.startswith("/") else Path(source)
                if not path.exists():
                    problems.append(f"{name}: mounts {source} at {target}, but {source} does not exist in the repo")
                elif root.resolve() not in (path, *path.parents):
                    problems.append(f"{name}: mounts {source}, which is outside the repository")
            elif source and source not in declared_volumes:
                problems.append(f"{name}: uses volume {source!r}, not declared under top-level volumes")
        if service.get("build") is not None:
            problems += build_problems(name, service["build"], root)
        elif not service.get("image"):
            problems.append(f"{name}: neither image nor build")
    cycles = _dependency_cycle(services)
    if cycles:
        problems.append("depends_on cycle: " + " -> ".join(cycles))
    return problems


def _dependency_cycle(services: dict[str, dict]) -> list[str]:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for dep in as_depends_on(services[node].get("depends_on")):
            if dep not in services:
                continue
            if state.get(dep) == 1:
                return [*path, node, dep]
            if dep not in state:
                cycle = visit(dep, [*path, node])
                if cycle:
                    return cycle
        state[node] = 2
        return []

    for name in services:
        if name not in state:
            cycle = visit(name, [])
            if cycle:
                return cycle
    return []


# --------------------------------------------------------------------------- connections
def parse_connection(value: str) -> dict:
    """An AIRFLOW_CONN_* value (JSON or URI) as a dict like Airflow's Connection fields."""
    if value.lstrip().startswith("{"):
        return json.loads(value)
    uri = urlparse(value)
    return {"conn_type": uri.scheme.replace("postgresql", "postgres"), "host": uri.hostname, "port": uri.port,
            "login": uri.username, "password": uri.password, "schema": uri.path.lstrip("/"), "extra": {}}


def airflow_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == AIRFLOW_IMAGE}


def connection_problems(compose: dict, conn_ids: set[str]) -> list[str]:
    problems: list[str] = []
    services = compose["services"]
    airflow = airflow_services(compose)
    if not airflow:
        return [f"no service runs the Airflow image {AIRFLOW_IMAGE}"]
    for conn_id in sorted(conn_ids):
        var = f"AIRFLOW_CONN_{conn_id.upper()}"
        for name, service in airflow.items():
            env = environment(service)
            if var not in env:
                problems.append(f"{name}: {var} is not set: connection {conn_id!r} is undefined there")
                continue
            try:
                conn = parse_connection(env[var])
            except ValueError as exc:
                problems.append(f"{name}: {var} is not valid JSON after interpolation: {exc}")
                continue
            problems += [f"{name}: {conn_id}: {p}" for p in _one_connection_problems(conn, services, service)]
    return problems


def _one_connection_problems(conn: dict, services: dict[str, dict], airflow_service: dict) -> list[str]:
    conn_type = conn.get("conn_type")
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    if conn_type == "aws":
        endpoint = urlparse(extra.get("endpoint_url", ""))
        if endpoint.hostname not in services:
            return [f"endpoint_url {extra.get('endpoint_url')!r} is not a service of the stack (AWS stand-in)"]
        if not (conn.get("login") and conn.get("password") and extra.get("region_name")):
            return ["needs login, password and extra.region_name (boto3 wants them even for moto)"]
        return []
    host = conn.get("host")
    if host not in services:
        return [f"host {host!r} is not a service of the stack"]
    if conn_type == "ssh":
        mounts = [split_volume(v)[1] for v in airflow_service.get("volumes") or []]
        key_file = extra.get("key_file", "")
        if not any(key_file.startswith(m.rstrip("/") + "/") for m in mounts):
            return [f"key_file {key_file!r} is not inside a volume mounted in the Airflow containers"]
        if str(extra.get("no_host_key_check", "false")).lower() == "true":
            return ["host key checking is off"]
        return []
    if conn_type != "postgres":
        return [f"unexpected conn_type {conn_type!r}"]
    server = services[COPY_OF.get(host, host)]
    server_env = environment(server)
    login = conn.get("login")
    if login == server_env.get("POSTGRES_USER", "postgres"):
        expected = server_env.get("POSTGRES_PASSWORD")
    else:
        expected = server_env.get(f"PGSHIFT_{str(login).upper()}_PASSWORD",
                                  server_env.get("PGSHIFT_REPLICATION_PASSWORD") if login == "replicator" else None)
    problems = []
    if expected is None:
        problems.append(f"role {login!r} is not created by service {host} (no password for it there)")
    elif conn.get("password") != expected:
        problems.append(f"password for {login!r} is not the one service {host} sets up")
    database = conn.get("schema") or "postgres"
    databases = {"postgres", server_env.get("POSTGRES_DB", server_env.get("POSTGRES_USER", "postgres"))}
    if database not in databases:
        problems.append(f"database {database!r} is not created by service {host} ({sorted(databases)})")
    return problems


# --------------------------------------------------------------------------- DAG defaults, by ast
CONN_PARAM = re.compile(r"^(conn_.+|.+_conn_id|conn_id)$")


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _param_helpers(tree: ast.Module) -> dict[str, tuple[int, str]]:
    """Module functions that return ``Param(<one of their arguments>, ...)``: name -> (position, arg name)."""
    helpers: dict[str, tuple[int, str]] = {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        names = [a.arg for a in fn.args.args]
        for node in ast.walk(fn):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Call) and _call_name(node.value) == "Param":
                call = node.value
                default = next((kw.value for kw in call.keywords if kw.arg == "default"),
                               call.args[0] if call.args else None)
                if isinstance(default, ast.Name) and default.id in names:
                    helpers[fn.name] = (names.index(default.id), default.id)
    return helpers


def _param_default(value: ast.AST, helpers: dict[str, tuple[int, str]]) -> tuple[bool, object]:
    """(is a Param, its default) for ``Param(...)``, a helper call or a plain literal."""
    if isinstance(value, ast.Constant):
        return True, value.value
    if not isinstance(value, ast.Call):
        return False, None
    name = _call_name(value)
    if name == "Param":
        position, keyword = 0, "default"
    elif name in helpers:
        position, keyword = helpers[name]
    else:
        return False, None
    for kw in value.keywords:
        if kw.arg == keyword:
            return True, _literal(kw.value)
    return True, _literal(value.args[position]) if len(value.args) > position else None


def _named_values(tree: ast.Module):
    """(name, value node) for every dict entry with a string key and every keyword argument."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield key.value, value
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg:
                    yield kw.arg, kw.value


def dag_conn_defaults(source: str) -> set[str]:
    """Connection ids a DAG file uses by default: Param defaults (or literals) of conn_* / *_conn_id names."""
    tree = ast.parse(source)
    helpers = _param_helpers(tree)
    found = set()
    for name, value in _named_values(tree):
        if not CONN_PARAM.match(name):
            continue
        is_param, default = _param_default(value, helpers)
        if is_param and isinstance(default, str) and default.strip() and "{{" not in default:
            found.add(default.strip())
    return found


def dag_param_names(source: str) -> set[str]:
    tree = ast.parse(source)
    helpers = _param_helpers(tree)
    return {name for name, value in _named_values(tree)
            if isinstance(value, ast.Call) and (_call_name(value) == "Param" or _call_name(value) in helpers)}


def default_conn_ids() -> dict[str, set[str]]:
    ids = {}
    for filename, fallback in FALLBACK_CONN_IDS.items():
        path = DAGS / filename
        parsed = dag_conn_defaults(path.read_text()) if path.exists() else set()
        ids[filename] = parsed or fallback
    return ids


# =========================================================================== tests
def run_schema_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_compose_file_as_written_matches_the_compose_schema():
    proc = run_schema_check(COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_interpolated_compose_matches_the_compose_schema(compose, tmp_path):
    path = tmp_path / "compose.json"
    path.write_text(json.dumps(compose))
    proc = run_schema_check(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_file(compose, tmp_path):
    broken = copy.deepcopy(compose)
    broken["services"]["pg-a"]["healthcheck"] = {"tset": ["CMD", "true"]}
    broken["services"]["redis"]["ports"] = {"6379": 6379}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    proc = run_schema_check(path)
    assert proc.returncode != 0
    assert "tset" in proc.stdout + proc.stderr


def test_every_variable_has_a_value_in_env_example(raw):
    env = read_env_file(ENV_EXAMPLE)
    problems = []
    for name, op in references(raw):
        if op == "invalid":
            problems.append(f"invalid interpolation ${{{name}}}")
        elif op in (None, ":?", "?", ":+", "+") and name not in env:
            problems.append(f"{name} is used without a default but .env.example does not set it")
        elif op is None:
            problems.append(f"{name} has no default and no :? error: without .env Compose would use ''")
    assert not problems, "\n".join(problems)


def test_env_example_values_are_all_used(raw):
    used = {name for name, _ in references(raw)}
    unused = set(read_env_file(ENV_EXAMPLE)) - used
    assert not unused, f".env.example sets variables docker-compose.yaml never uses: {sorted(unused)}"


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("a$$b ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${SET:+r} ${UNSET+r}", env) == \
        "a$b v v d d  r "
    with pytest.raises(InterpolationError, match="EMPTY is required"):
        interpolate("${EMPTY:?set it}", env)
    with pytest.raises(InterpolationError, match="UNSET has no value"):
        interpolate("${UNSET}", env)


def test_compose_holds_together(compose):
    assert compose_problems(compose) == []


def test_expected_services_are_there(compose):
    services = set(compose["services"])
    expected = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                "airflow-triggerer", "airflow-init", "postgres", "redis", "pg-a", "pg-b", "pg-c",
                "citus-coordinator", "citus-worker1", "citus-worker2", "citus-worker3", "citus-init", "moto"}
    assert expected <= services, f"missing services: {sorted(expected - services)}"
    commands = {s["command"] for s in airflow_services(compose).values() if isinstance(s.get("command"), str)}
    assert {"api-server", "scheduler", "dag-processor", "celery worker", "triggerer"} <= commands


def test_checker_catches_a_depends_on_that_names_no_service(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-worker"]["depends_on"]["pg-z"] = {"condition": "service_healthy"}
    problems = compose_problems(broken)
    assert any("'pg-z', which is not a service" in p for p in problems), problems


def test_checker_catches_unsatisfiable_conditions_and_missing_paths(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["moto"]["healthcheck"] = {"disable": True}
    broken["services"]["pg-c"]["depends_on"] = {"pg-a": {"condition": "service_completed_successfully"},
                                                "moto": {"condition": "service_healthy"}}
    broken["services"]["pg-a"]["volumes"].append("./docker/pg-a/no-such-dir:/x:ro")
    broken["services"]["pg-a"]["volumes"].append("undeclared-volume:/y")
    broken["services"]["citus-init"]["depends_on"]["citus-init"] = {"condition": "service_started"}
    del broken["services"]["redis"]["restart"]
    problems = "\n".join(compose_problems(broken))
    assert "redis: no restart policy" in problems
    assert "moto: healthcheck disabled on a long-running service" in problems
    assert "pg-c: waits for pg-a to complete, but pg-a restarts" in problems
    assert "pg-c: waits for moto to be healthy, but moto has no healthcheck" in problems
    assert "./docker/pg-a/no-such-dir" in problems
    assert "'undeclared-volume', not declared" in problems
    assert "citus-init: depends on itself" in problems
    assert "depends_on cycle" in problems


def test_mounts_and_builds_use_the_repository(compose):
    mounts = {split_volume(v)[0]: split_volume(v)[1]
              for v in compose["x-airflow-common"]["volumes"]}
    assert mounts["./dags"] == "/opt/airflow/dags"
    # pgshift is installed in the image as a provider package (its SQL inside it), not mounted from the checkout.
    assert not {"./plugins", "./include"} & set(mounts)
    dockerfile = (ROOT / "docker" / "airflow" / "Dockerfile").read_text()
    assert "COPY plugins/pgshift /src/pgshift/plugins/pgshift" in dockerfile
    assert re.search(r"^RUN pip install .* /src/pgshift$", dockerfile, re.M)
    assert not build_problems("airflow", {"context": ".", "dockerfile": "docker/airflow/Dockerfile"}, ROOT)
    assert build_problems("x", {"context": ".", "dockerfile": "docker/no-such/Dockerfile"}, ROOT)


def test_images_match_the_pinned_versions(compose):
    requirements = (ROOT / "requirements.txt").read_text()
    airflow_pin = re.search(r"^apache-airflow==(\S+)", requirements, re.M)[1]
    dockerfile = (ROOT / "docker" / "airflow" / "Dockerfile").read_text()
    base = re.search(r"apache/airflow:(\S+?)(?:-python\S+)?$", dockerfile, re.M)[1]
    assert base == airflow_pin, f"docker/airflow/Dockerfile uses Airflow {base}, requirements.txt pins {airflow_pin}"
    assert AIRFLOW_IMAGE.endswith(airflow_pin)
    assert "pip install" in dockerfile and "-r /requirements.txt" in dockerfile
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in json.dumps(compose)
    dev = (ROOT / "requirements-dev.txt").read_text()
    moto_pin = re.search(r"^moto\[[^\]]*\]==(\S+)|^moto==(\S+)", dev, re.M)
    assert compose["services"]["moto"]["image"] == f"motoserver/moto:{moto_pin[1] or moto_pin[2]}"


def test_pg_a_is_ready_to_be_copied_to_b(compose):
    pg_a = compose["services"]["pg-a"]
    command = " ".join(pg_a["command"])
    assert "wal_level=logical" in command
    init = "".join(p.read_text() for p in sorted((ROOT / "docker" / "pg-a" / "initdb").iterdir()))
    # B is a pg_basebackup copy: it inherits postgresql.auto.conf, not A's command-line flags.
    assert "ALTER SYSTEM SET wal_level = 'logical'" in init
    assert "LOGIN REPLICATION" in init
    assert re.search(r"host\s+replication\s+all\s+\S+\s+scram-sha-256", init)
    assert "scram-sha-256" in environment(pg_a)["POSTGRES_INITDB_ARGS"]


def test_pg_b_starts_empty_with_the_dag_defaults():
    hybrid = DAGS / "hybrid_aurora_migration.py"
    dockerfile = (ROOT / "docker" / "pg-b" / "Dockerfile").read_text()
    major = int(re.search(r"^FROM postgres:(\d+)", dockerfile, re.M)[1])
    assert major >= 16, "logical decoding on a standby needs PostgreSQL 16 or newer on B"
    data_dir = re.search(r"PGSHIFT_B_DATA_DIR=(\S+)", dockerfile)[1]
    if hybrid.exists():
        source = hybrid.read_text()
        assert f'"{data_dir}"' in source, f"pg-b's data directory {data_dir} is not the DAG's default b_data_dir"
        assert f'"/usr/lib/postgresql/{major}/bin"' in source
    entrypoint = (ROOT / "docker" / "pg-b" / "entrypoint.sh").read_text()
    assert "sshd -D" in entrypoint
    sshd = (ROOT / "docker" / "pg-b" / "sshd_config").read_text()
    assert re.search(r"^PasswordAuthentication no$", sshd, re.M)
    assert re.search(r"^AllowUsers postgres$", sshd, re.M)


def test_citus_init_leaves_the_spare_worker_out():
    init = (ROOT / "docker" / "citus" / "init.sh").read_text()
    assert "citus_add_node('citus-worker1'" in init and "citus_add_node('citus-worker2'" in init
    assert "citus_add_node('citus-worker3'" not in init


def test_dag_conn_defaults_parser():
    source = '''
from airflow.sdk import Param
P = "{{{{ params.{} }}}}".format
def _conn(default, title, description):
    return Param(default, type="string", title=title)
PARAMS = {
    "conn_a": _conn("pgshift_a", "A", "..."),
    "conn_b": Param(default="pgshift_b"),
    "ssh_conn_id": Param("", type="string"),
    "aws_conn_id": _conn(default="aws_default", title="AWS", description=""),
    "schemas": Param([], type="array"),
    "coordinator_conn_id": Param("citus_coordinator"),
}
op = Op(aws_conn_id=P("aws_conn_id"), conn_c="{{ params.conn_c }}", postgres_conn_id="literal_conn")
'''
    assert dag_conn_defaults(source) == {"pgshift_a", "pgshift_b", "aws_default", "citus_coordinator",
                                         "literal_conn"}
    assert {"conn_a", "conn_b", "ssh_conn_id", "schemas"} <= dag_param_names(source)


def test_every_default_connection_of_the_dags_is_defined(compose):
    ids = set().union(*default_conn_ids().values()) | DOCKER_CONN_IDS
    assert "pgshift_a" in ids and "citus_coordinator" in ids
    assert connection_problems(compose, ids) == []


def test_connection_checker_catches_undefined_and_miswired_connections(compose):
    assert "AIRFLOW_CONN_NO_SUCH_CONN is not set" in "\n".join(connection_problems(compose, {"no_such_conn"}))
    broken = copy.deepcopy(compose)
    env = broken["services"]["airflow-worker"]["environment"]
    conn = json.loads(env["AIRFLOW_CONN_PGSHIFT_B"])
    env["AIRFLOW_CONN_PGSHIFT_B"] = json.dumps({**conn, "password": "wrong", "schema": "nodb"})
    conn_c = json.loads(env["AIRFLOW_CONN_PGSHIFT_C"])
    env["AIRFLOW_CONN_PGSHIFT_C"] = json.dumps({**conn_c, "host": "aurora.example.com"})
    problems = "\n".join(connection_problems(broken, {"pgshift_b", "pgshift_c"}))
    assert "airflow-worker: pgshift_b: password for 'postgres' is not the one service pg-b sets up" in problems
    assert "database 'nodb' is not created by service pg-b" in problems
    assert "airflow-worker: pgshift_c: host 'aurora.example.com' is not a service" in problems
    assert "airflow-scheduler" not in problems


def docker_docs() -> str:
    """docs/docker.md, or the README's "Run with Docker" section once it has been merged there."""
    if DOCS.exists():
        return DOCS.read_text()
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    section = re.search(r"^(#+) Run with Docker\b.*?(?=^\1 |\Z)", readme, re.M | re.S)
    assert section, "neither docs/docker.md nor a 'Run with Docker' section in README.md"
    return section[0]


def test_docs_trigger_the_dags_with_params_they_have():
    text = docker_docs()
    assert "CI validates" in text and "does not run" in text
    confs = [json.loads(m) for m in re.findall(r"--conf '(\{.*?\})'", text, re.S)]
    assert confs, "docs/docker.md shows no `--conf '{...}'` example"
    assert any(c.get("ssh_conn_id") in DOCKER_CONN_IDS for c in confs)
    params = {}
    for filename in FALLBACK_CONN_IDS:
        path = DAGS / filename
        if path.exists():
            params[filename] = dag_param_names(path.read_text())
    for dag_id, conf in re.findall(r"airflow dags trigger (\S+) --conf '(\{.*?\})'", text, re.S):
        names = params.get(f"{dag_id}.py")
        if names:
            unknown = set(json.loads(conf)) - names
            assert not unknown, f"docs/docker.md passes {sorted(unknown)} to {dag_id}, which has no such params"


def test_every_airflow_container_shares_the_report_directory(compose):
    """Validation's chart and a cutover's fence record must be seen by whichever worker runs next."""
    for name, service in airflow_services(compose).items():
        report_dir = service["environment"]["PGSHIFT_REPORT_DIR"]
        assert f"airflow-reports:{report_dir}" in service["volumes"], name
