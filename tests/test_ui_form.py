"""The UI's trigger form for both DAGs, in a real browser: headless Chromium (Debian's package) driven by Playwright.

A real ``airflow api-server`` (tests/api_server.py) serves the UI. The test signs in on the simple auth manager's
login page, opens the trigger dialog behind each DAG page's Trigger button, checks the form's sections and every
param's title, submits the defaults and finds the run through the REST API. No scheduler runs, so the run stays
queued. The form's "Unpause <dag> on trigger" box (ticked by default) is cleared: the DAGs stay paused.

Screenshots of the open forms go to $PGSHIFT_TEST_ARTIFACTS, else tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest
from api_server import ApiServer, running_api_server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (make system-deps does it as root "
                "or with sudo -n)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not importable (pinned in "
                               "requirements-dev.txt)", exc_type=ImportError)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000  # the first page pulls the UI's bundle from an api-server that may still be warming up
expect = sync_api.expect


@dataclass(frozen=True)
class Case:
    dag_id: str
    sections: tuple[str, ...]  # some of the form's sections (each param's Param(section=...))
    titles: tuple[str, ...]  # some param titles
    shown: str  # the section open in the screenshot


CASES = [
    Case("hybrid_aurora_migration", ("Run Parameters", "Connections", "Names", "Host B", "Cutover", "Validation"),
         ("Action", "SSH to host B", "Logical slot (on B)", "Application roles to fence on A"), "Names"),
    Case("citus_scale_out", ("Cluster", "Rebalance", "Clone"), ("Coordinator connection", "Method", "New workers"),
         "Cluster"),
]
NO_SECTION = "Run Parameters"  # where the form puts params without a section


@pytest.fixture(scope="module")
def server(airflow_db: Path) -> Iterator[ApiServer]:
    with running_api_server(airflow_db) as srv:
        yield srv


@pytest.fixture(scope="module")
def rest(server: ApiServer) -> dict[str, str]:
    """The REST API's Authorization header; both DAGs are serialized."""
    headers = server.token_headers()
    server.require_dags(headers, [case.dag_id for case in CASES])
    return headers


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (a start costs about a second)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, server: ApiServer, rest: dict[str, str]) -> Iterator[BrowserContext]:
    """A browser context signed in through the login page, as a user would (the UI keeps the token in a cookie)."""
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 2200})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(server.user)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Dags")).to_be_visible()
    assert "_token" in {cookie["name"] for cookie in context.cookies()}
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[Page]:
    page = signed_in.new_page()
    yield page
    page.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = Path(os.environ.get("PGSHIFT_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _screenshot(page: Page, artifacts: Path, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    path = artifacts / f"{name}.png"
    page.get_by_role("dialog").screenshot(path=path)
    with capsys.disabled():
        print(f"\n  screenshot: {path}")
    return path


def _dag(server: ApiServer, rest: dict[str, str], dag_id: str) -> dict[str, Any]:
    resp = server.client.get(f"/api/v2/dags/{dag_id}/details", headers=rest)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _runs(server: ApiServer, rest: dict[str, str], dag_id: str) -> dict[str, dict[str, Any]]:
    resp = server.client.get(f"/api/v2/dags/{dag_id}/dagRuns", headers=rest, params={"limit": 100})
    assert resp.status_code == 200, resp.text
    return {run["dag_run_id"]: run for run in resp.json()["dag_runs"]}


def _title(text: str) -> re.Pattern[str]:
    """A field's label: its title, then `*` when the form counts it required."""
    return re.compile(rf"^{re.escape(text)}\s*\*?$")


def _field(scope: Locator, title: str) -> Locator:
    """The form row (role group) of a param. Its label's ``for`` does not name the input, so no get_by_label."""
    return scope.get_by_role("group").filter(has=scope.page.get_by_text(_title(title)))


def _open_section(dialog: Locator, section: str) -> Locator:
    """Expand a section (one is open at a time) and return its region."""
    button = dialog.get_by_role("button", name=section, exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    # The panel the button controls: "Run Parameters" (params without a section) has no accessible name.
    region = dialog.locator(f"[id={json.dumps(button.get_attribute('aria-controls'))}]")
    expect(region).to_have_role("region")
    expect(region).to_be_visible()
    return region


def _open_form(page: Page, dag_id: str) -> Locator:
    """The DAG's page, its Trigger button, the dialog; "Unpause on trigger" cleared (the DAG stays paused)."""
    page.goto(f"/dags/{dag_id}")
    page.get_by_role("button", name="Trigger Dag", exact=True).click()  # its text is "Trigger"
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Trigger Dag - {dag_id}")).to_be_visible()
    unpause = dialog.get_by_role("checkbox", name=f"Unpause {dag_id} on trigger")
    expect(unpause).to_be_checked()  # the form's default
    dialog.get_by_text(f"Unpause {dag_id} on trigger").click()  # the box itself sits under its styled control
    expect(unpause).not_to_be_checked()
    return dialog


def _refused_fields(dialog: Locator) -> list[str]:
    """What the form flags, to say why Trigger is disabled."""
    return [re.sub(r"\s+", " ", _group_of(field).inner_text()) for field in dialog.locator("[aria-invalid=true]").all()]


def _missing_by_rule(params: dict[str, dict[str, Any]]) -> list[str]:
    missing = []
    for name, param in params.items():
        kind = param["schema"].get("type", [])
        if "null" not in ([kind] if isinstance(kind, str) else kind) and param["value"] in ("", None):
            missing.append(name)
    return missing


def _group_of(field: Locator) -> Locator:
    return field.locator("xpath=ancestor::*[@role='group'][1]")


@pytest.mark.parametrize("case", CASES, ids=[case.dag_id for case in CASES])
def test_trigger_form_submits_the_defaults(page: Page, server: ApiServer, rest: dict[str, str], artifacts: Path,
                                           capsys: pytest.CaptureFixture[str], case: Case) -> None:
    details = _dag(server, rest, case.dag_id)
    assert details["is_paused"], "precondition: a new DAG starts paused"
    params: dict[str, dict[str, Any]] = details["params"]
    by_section: dict[str, list[str]] = {}
    for name, param in params.items():
        by_section.setdefault(param["schema"].get("section", NO_SECTION), []).append(param["schema"].get("title", name))
    assert set(case.sections) <= set(by_section), by_section.keys()
    assert set(case.titles) <= {title for titles in by_section.values() for title in titles}
    before = _runs(server, rest, case.dag_id)

    started = time.monotonic()
    dialog = _open_form(page, case.dag_id)
    for section, titles in by_section.items():
        region = _open_section(dialog, section)
        for title in titles:
            expect(region.get_by_text(_title(title)).first).to_be_visible()
    expect(dialog.get_by_role("button", name="Advanced Options", exact=True)).to_be_visible()
    _open_section(dialog, case.shown)
    _screenshot(page, artifacts, f"trigger-form-{case.dag_id}", capsys)

    trigger = dialog.get_by_role("button", name="Trigger", exact=True)
    if not trigger.is_enabled():
        pytest.fail(f"the form refuses its defaults; it flags {_refused_fields(dialog)}; by its rule (required "
                    f"unless the type allows null, and '' or null is missing): {_missing_by_rule(params)}",
                    pytrace=False)
    trigger.click()
    # On success the dialog closes and the UI goes to the new run's page.
    page.wait_for_url(re.compile(rf"/dags/{case.dag_id}/runs/[^/]+$"))
    expect(dialog).to_be_hidden()
    run_id = unquote(page.url.rsplit("/runs/", 1)[1])
    with capsys.disabled():
        print(f"  {case.dag_id}: form opened, walked and submitted in {time.monotonic() - started:.1f} s: {run_id}")

    after = _runs(server, rest, case.dag_id)
    assert set(after) - set(before) == {run_id}
    run = after[run_id]
    defaults = {name: param["value"] for name, param in params.items()}
    assert (run["run_type"], run["triggered_by"], run["state"]) == ("manual", "ui", "queued")
    assert run["triggering_user_name"] == server.user
    assert run["conf"] == defaults
    assert _dag(server, rest, case.dag_id)["is_paused"]


def test_trigger_form_refuses_a_bad_slot_name(page: Page, server: ApiServer, rest: dict[str, str],
                                              artifacts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The form does not check ``pattern`` itself: the API's 400 is shown in the dialog, and no run exists."""
    dag_id, bad = "hybrid_aurora_migration", "x'; drop table t; --"
    before = _runs(server, rest, dag_id)
    dialog = _open_form(page, dag_id)
    slot = _field(_open_section(dialog, "Names"), "Logical slot (on B)").get_by_role("textbox")
    expect(slot).to_have_value("pgshift_c_logical")
    slot.fill(bad)
    expect(slot).to_have_value(bad)
    trigger = dialog.get_by_role("button", name="Trigger", exact=True)
    if trigger.is_enabled():  # Airflow 3.3.2: the form checks required fields and types, not patterns
        trigger.click()
        error = dialog.get_by_test_id("error-alert")
        expect(error).to_contain_text("400 Bad Request")
        expect(error).to_contain_text("Invalid input for param slot_name")
        expect(error).to_contain_text("does not match")
    expect(dialog).to_be_visible()
    _screenshot(page, artifacts, "trigger-form-refused-slot-name", capsys)
    assert _runs(server, rest, dag_id) == before
    assert _dag(server, rest, dag_id)["is_paused"]
