"""Trigger hybrid_aurora_migration through a real ``airflow api-server`` (REST v2, simple auth manager).

No scheduler runs, so a triggered run stays queued: these tests cover the API contract only (auth, conf
round trip, and the DAG's Param schema refusing bad conf with 400 before any run exists).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import USER, ApiServer, running_api_server

DAG_ID = "hybrid_aurora_migration"
RUNS = f"/api/v2/dags/{DAG_ID}/dagRuns"
Api = tuple[httpx.Client, str]  # the server's client and the admin's password


@pytest.fixture(scope="module")
def server(airflow_db: Path) -> Iterator[ApiServer]:
    with running_api_server(airflow_db) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(server: ApiServer) -> Api:
    """The running api-server's client and the admin's password."""
    return server.client, server.password


@pytest.fixture(scope="module")
def auth(server: ApiServer) -> dict[str, str]:
    headers = server.token_headers()
    server.require_dags(headers, [DAG_ID])
    return headers


def _run_count(client: httpx.Client, auth: dict[str, str]) -> int:
    resp = client.get(RUNS, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["total_entries"]


def test_requests_without_a_valid_token_are_refused(api: Api) -> None:
    client, _ = api
    assert client.post("/auth/token", json={"username": USER, "password": "wrong"}).status_code == 401
    assert client.get(RUNS).status_code in (401, 403)
    trigger = client.post(RUNS, json={"logical_date": None, "conf": {}})
    assert trigger.status_code in (401, 403), trigger.text
    assert client.get(RUNS, headers={"Authorization": "Bearer not-a-jwt"}).status_code in (401, 403)


def test_trigger_cutover_dry_run(api: Api, auth: dict[str, str]) -> None:
    client, _ = api
    conf = {"action": "cutover", "app_roles": ["app"], "dry_run": True}
    resp = client.post(RUNS, json={"logical_date": None, "conf": conf}, headers=auth)
    assert resp.status_code == 200, resp.text
    run = resp.json()
    assert (run["dag_id"], run["run_type"], run["conf"]) == (DAG_ID, "manual", conf)
    fetched = client.get(f"{RUNS}/{run['dag_run_id']}", headers=auth)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["conf"] == conf


@pytest.mark.parametrize(("conf", "param"), [
    ({"action": "explode"}, "action"),  # enum validate/setup/cutover
    ({"gate_readings": 0}, "gate_readings"),  # minimum 1
    ({"app_roles": "app"}, "app_roles"),  # must be an array
    ({"memberships_on_c": {"app": "rds_superuser"}}, "memberships_on_c"),  # role -> a list of groups
    ({"app_role_connections": {"App; DROP ROLE x": "pgshift_c"}}, "app_role_connections"),  # role name pattern
])
def test_invalid_conf_is_refused(api: Api, auth: dict[str, str], conf: dict[str, object], param: str) -> None:
    client, _ = api
    before = _run_count(client, auth)
    resp = client.post(RUNS, json={"logical_date": None, "conf": conf}, headers=auth)
    assert resp.status_code == 400, resp.text
    assert param in resp.json()["detail"], resp.text
    assert _run_count(client, auth) == before
