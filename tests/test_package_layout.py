"""The package's layout by domain (see :mod:`pgshift`'s docstring): no import cycle, ``pgshift.common`` imports
no domain, ``pgshift.citus`` does not import ``pgshift.migration``, the kept old paths are only re-exports that
nothing inside pgshift or the DAGs imports, and a trigger serialized with the old classpaths still works.
This module names the previous layout's paths on purpose: layout_move.py leaves it alone (layout_move: keep).

The import graph is read with :mod:`ast` and counts every ``import``/``from ... import`` of a pgshift module
anywhere in a module: at module level, under ``if TYPE_CHECKING:`` and inside functions. A function-level import
is still a dependency (it only runs later), so hiding one in a function does not break a cycle here.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
from pathlib import Path

import pytest
from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]

from pgshift.common.checks.base import Check
from pgshift.common.checks.registry import CHECK_CLASSPATHS, check_class

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "plugins" / "pgshift"
DOMAINS = ("common", "migration", "citus")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """The pgshift modules ``path`` imports, anywhere in it (``from a.b import c`` is a.b.c when c is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("pgshift"):
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pgshift")
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in GRAPH:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _is_shim(path: Path) -> bool:
    return path.read_text(encoding="utf-8").startswith('"""Kept path:')


SHIMS = sorted(name for name, path in MODULES.items() if _is_shim(path))


def test_the_graph_is_read_and_has_the_domains() -> None:
    assert {f"pgshift.{d}" for d in DOMAINS} <= set(MODULES)
    assert "pgshift.migration.hooks.base" in GRAPH["pgshift.migration.hooks.primary"]
    assert "pgshift.common.hooks.postgres" in GRAPH["pgshift.citus.hook"]


def test_no_import_cycle() -> None:
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: two modules importing each other are a cycle."""
    GRAPH["pgshift.common.report"].add("pgshift.common.chart")
    GRAPH["pgshift.common.chart"].add("pgshift.common.report")
    try:
        assert ["pgshift.common.chart", "pgshift.common.report"] in _cycles()
    finally:
        GRAPH["pgshift.common.report"].discard("pgshift.common.chart")
        GRAPH["pgshift.common.chart"].discard("pgshift.common.report")


@pytest.mark.parametrize(("domain", "forbidden"), [
    ("common", ("pgshift.migration", "pgshift.citus")),
    ("citus", ("pgshift.migration",)),
])
def test_a_domain_imports_only_what_it_may(domain: str, forbidden: tuple[str, ...]) -> None:
    wrong = {name: sorted(d for d in deps if d.startswith(forbidden) or d in SHIMS)
             for name, deps in GRAPH.items() if name.startswith(f"pgshift.{domain}")}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_migration_imports_no_kept_old_path() -> None:
    wrong = {name: sorted(deps & set(SHIMS)) for name, deps in GRAPH.items() if name.startswith("pgshift.migration")}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_dags_import_the_new_paths() -> None:
    for dag in (ROOT / "dags").glob("*.py"):
        assert not _imports(dag) & set(SHIMS), dag.name


def test_a_kept_old_path_is_only_a_re_export() -> None:
    """Docstring (which says why it is kept), imports from the new module, ``__all__``: nothing else."""
    assert len(SHIMS) > 30
    for name in SHIMS:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert "Why it exists:" in doc, name
        for node in tree.body[1:]:
            assert isinstance(node, (ast.ImportFrom, ast.Assign)), f"{name}: {ast.dump(node)[:80]}"
            if isinstance(node, ast.ImportFrom):
                assert node.module == "__future__" or node.module.split(".")[1] in DOMAINS, name
        module = importlib.import_module(name)
        for exported in module.__all__:
            assert getattr(module, exported) is not None


def test_every_old_check_name_builds_a_check_of_that_name() -> None:
    for name, classpath in CHECK_CLASSPATHS.items():
        cls = check_class(name)
        assert issubclass(cls, Check) and cls.name == name and f"{cls.__module__}.{cls.__qualname__}" == classpath


@pytest.mark.parametrize(("old", "new"), [
    ("pgshift.checks.wal_lag.WalLagCheck", "pgshift.migration.checks.wal_lag.WalLagCheck"),
    ("pgshift.checks.cdc_lag.CdcLagCheck", "pgshift.migration.checks.cdc_lag.CdcLagCheck"),
    ("pgshift.checks.subscription.SubscriptionSyncedCheck",
     "pgshift.migration.checks.subscription.SubscriptionSyncedCheck"),
    ("pgshift.checks.dms_task.DmsTaskCheck", "pgshift.migration.checks.dms_task.DmsTaskCheck"),
    ("pgshift.checks.dms_task.DmsTaskRunningCheck", "pgshift.migration.checks.dms_task.DmsTaskRunningCheck"),
    ("pgshift.checks.reverse.ReverseLagCheck", "pgshift.migration.checks.reverse.ReverseLagCheck"),
    ("pgshift.checks.reverse.ReverseSubscriptionCheck", "pgshift.migration.checks.reverse.ReverseSubscriptionCheck"),
    ("pgshift.citus_status.RebalanceCheck", "pgshift.citus.status.RebalanceCheck"),
    ("pgshift.citus_clone.CloneLagCheck", "pgshift.citus.clone.CloneLagCheck"),
    ("pgshift.triggers.poll.PgShiftPollTrigger", "pgshift.common.triggers.poll.PgShiftPollTrigger"),
    ("pgshift.triggers.fence_watchdog.FenceWatchdogTrigger",
     "pgshift.migration.triggers.fence_watchdog.FenceWatchdogTrigger"),
    ("pgshift.triggers.sync_guard.SyncGuardTrigger", "pgshift.migration.triggers.sync_guard.SyncGuardTrigger"),
    ("pgshift.notifications.deadline.DeadlineMissedNotifier",
     "pgshift.common.notifications.deadline.DeadlineMissedNotifier"),
    ("pgshift.hooks.primary.PrimaryHook", "pgshift.migration.hooks.primary.PrimaryHook"),
    ("pgshift.operators.cutover.CutoverOperator", "pgshift.migration.operators.cutover.CutoverOperator"),
    ("pgshift.sensors.citus.CitusRebalanceSensor", "pgshift.citus.sensors.CitusRebalanceSensor"),
])
def test_a_serialized_classpath_of_the_previous_layout_names_the_same_class(old: str, new: str) -> None:
    assert old != new and import_string(old) is import_string(new)


async def _first_event(trigger: object) -> dict[str, object]:
    async for event in trigger.run():  # type: ignore[attr-defined]
        return dict(event.payload)
    raise AssertionError("trigger ended without an event")


@pytest.mark.parametrize("stored_check", [
    {"check": {"classpath": "pgshift.checks.wal_lag.WalLagCheck",
               "fields": {"conn_a": "pgshift_a", "conn_b": "pgshift_a", "physical_slot": "no_such_slot",
                          "max_bytes": 1024, "max_seconds": 2.5}}},
    {"check": "wal_lag", "check_kwargs": {"conn_a": "pgshift_a", "conn_b": "pgshift_a",
                                          "physical_slot": "no_such_slot", "max_bytes": 1024, "max_seconds": 2.5}},
], ids=["check-object", "check-name"])
def test_a_trigger_serialized_by_the_previous_layout_runs_in_the_triggerer(clusters, stored_check) -> None:
    """What a triggerer does with a stored trigger: import its classpath, build it from its kwargs, run it. The
    check reads A for real: A has no slot of that name, which the WAL-lag check calls fatal at once."""
    kwargs = {**stored_check, "poll_interval": 0.1, "timeout": 30.0, "started_at": None, "timeout_hint": ""}
    trigger = import_string("pgshift.triggers.poll.PgShiftPollTrigger")(**kwargs)
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "failure"
    assert "A has no physical replication slot 'no_such_slot'" in str(event["message"])
    classpath, again = trigger.serialize()
    assert import_string(classpath)(**again).check_name == "wal_lag"
