"""Where pgshift writes its reports, and how (JSON files, written whole or not at all)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any


def report_root(param: str | None) -> Path:
    """``report_dir`` param, else ``$PGSHIFT_REPORT_DIR``, else ``$AIRFLOW_HOME/pgshift-reports``."""
    if param:
        return Path(param)
    if os.environ.get("PGSHIFT_REPORT_DIR"):
        return Path(os.environ["PGSHIFT_REPORT_DIR"])
    return Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))) / "pgshift-reports"


def safe_name(run_id: str) -> str:
    """A run id as a file name (run ids hold ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, sort_keys=False))
    tmp.replace(path)
    return path


def read_reports(directory: Path, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` JSON reports of a directory, oldest first (unreadable files are skipped)."""
    reports = []
    for path in sorted(directory.glob("*.json")):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    reports.sort(key=lambda r: r.get("started_at") or "")
    return reports[-limit:]


def cutover_summary(report: dict[str, Any]) -> str:
    """A readable account of a cutover report, for the task log."""
    lines = [f"Cutover {'DRY RUN ' if report.get('dry_run') else ''}{report.get('status', '?').upper()} "
             f"({report.get('mode')} mode, run {report.get('run_id')})"]
    if report.get("error"):
        lines.append(f"  reason: {report['error']}")
    for step, when in report.get("timeline", {}).items():
        lines.append(f"  {step:<17} {when}")
    if report.get("write_downtime_seconds") is not None:
        lines.append(f"  write downtime    {report['write_downtime_seconds']:.3f} s (fence -> C ready)")
    app = report.get("application") or {}
    if app.get("write_downtime_seconds") is not None:
        # Written by whoever watched the application (the demo, the benchmark): what the application felt.
        lines.append(f"  application-visible write downtime {app['write_downtime_seconds']:.3f} s (role "
                     f"{app.get('role')}: last commit on A {app.get('last_commit_on_a')}, first on C "
                     f"{app.get('first_commit_on_c')})")
    if report.get("final_lsn"):
        lines.append(f"  final LSN of A    {report['final_lsn']}")
    if report.get("forecast") is not None and report.get("databases"):
        lines.append(f"  forecast          {report['forecast'].get('seconds')} s of write downtime predicted for "
                     "the set")
    parts = report.get("databases")
    if not parts:  # one database: its lines are the report's own
        return "\n".join(lines + _database_lines(report, "  "))
    for name, part in parts.items():  # several databases: the set's facts above, each database's part below
        lines.append(f"  database {name}")
        lines += _database_lines(part, "    ")
    if report.get("finalized"):
        lines.append(f"  finalized         {', '.join(report['finalized'])}")
    return "\n".join(lines)


def _database_lines(report: dict[str, Any], indent: str) -> list[str]:
    """One database's part of a cutover report: verification, tables, sequences, what is not migrated, access, the
    way back."""
    verify = report.get("verify") or {}
    source = "B" if verify.get("method") == "delta" else "A"  # delta: every table at B's first frozen point
    lines = _verify_lines(verify)
    for t in report.get("tables", []):
        lines.append(f"  table {t['table']:<28} {t['status']:<7} rows {source} {t['source_rows']} "
                     f"C {t['target_rows']} hash {t['source_hash']}")
    for s in report.get("sequences", []):
        lines.append(f"  sequence {s['sequence']:<25} A {s['a_last_value']} -> {s['action']}")
    for what, count in (report.get("not_migrated") or {}).items():
        lines.append(f"  not migrated      {count} {what.replace('_', ' ')} (logical replication does not carry "
                     "them)")
    lines += _access_lines(report)
    way_back = report.get("fallback") or {}
    if way_back.get("armed"):
        lines.append(f"  way back          armed: A subscribes to C ({way_back.get('subscription')}, from C's "
                     f"{way_back.get('start_lsn')}; {way_back.get('armed_seconds')} s of the downtime); "
                     "action=fallback returns to A with every write made on C, action=finish removes it")
    return [indent + line[2:] for line in lines]


def _verify_lines(verify: dict[str, Any]) -> list[str]:
    """verify=delta: what was verified before the fence (at B's frozen points) and inside it."""
    if verify.get("method") != "delta":
        return []
    rounds = verify.get("rounds") or []
    lines = [f"  verify            delta: {verify.get('rows_verified_before_fence')} rows before the fence "
             f"({len(rounds)} frozen point(s) of B; B replaying afterwards: {verify.get('replay_resumed')})"]
    forecast = verify.get("forecast") or {}
    if forecast.get("seconds") is not None:
        # a database's part of a set has no limit of its own: the set's forecast is judged (report["forecast"])
        limit = forecast.get("max_write_downtime_seconds")
        lines.append(f"  forecast          {forecast['seconds']:.3f} s of write downtime predicted"
                     + (f" (limit {limit:g} s)" if limit is not None else ""))
    inside = verify.get("inside_fence")
    if inside:
        whole = ", ".join(inside.get("tables_whole") or {}) or "none"
        lines.append(f"  inside the fence  {inside['keys']} changed rows by key in "
                     f"{', '.join(inside['tables_by_key']) or 'no table'}, A against C; checked whole: {whole}")
        for t in inside.get("tables", []):
            lines.append(f"    {t['table']:<30} {t['status']:<7} {t['note']}")
    for other in verify.get("other_sessions_on_c") or []:
        lines.append(f"  other session on C since the first frozen point: pid {other['pid']} role {other['role']} "
                     f"({other['application_name'] or 'no application_name'})")
    return lines


def _access_lines(report: dict[str, Any]) -> list[str]:
    """Roles, privileges and the login proof: whether the application can work on C."""
    lines = []
    for what, key, name in (("role", "roles", "role"), ("privileges", "privileges", "object")):
        section = report.get(key) or {}
        verb = "" if section.get("applied", True) else "(would be) "
        for ch in section.get("changes", []):
            lines.append(f"  {what} {ch[name]}: {verb}{ch['change']}")
        for note in section.get("warnings", []) + section.get("not_synced", []):
            lines.append(f"  {what} note: {note}")
    parity = report.get("privilege_parity")
    if parity:
        for role, count in parity.get("checked", {}).items():
            diffs = parity.get("per_role", {}).get(role, [])
            lines.append(f"  privileges of {role:<14} {'EQUAL' if not diffs else 'DIFFER'} on A and C "
                         f"({count} compared){': ' + '; '.join(diffs) if diffs else ''}")
        for line in parity.get("owners", []) + parity.get("other", []):
            lines.append(f"  differs: {line}")
    for p in report.get("login_proof", []):
        if p["read"] is None and p["wrote"] is None and not p["seconds"]:
            lines.append(f"  app role {p['role']:<18} {p['how']}")
            continue
        wrote = f"wrote {p['wrote']} ({p['rows_written']} row, rolled back)" if p["wrote"] else "no write privilege"
        lines.append(f"  app role {p['role']:<18} {p['how']}; read {p['read']}; {wrote}; {p['seconds']:.3f} s")
    if report.get("login_granted_on_c"):
        lines.append(f"  LOGIN on C        {', '.join(report['login_granted_on_c'])}")
    return lines
