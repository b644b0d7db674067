"""Preflight for the A -> B -> C chain: read-only, and one report listing every problem."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from pgshift.hooks.host import HostB
from pgshift.hooks.postgres import PgShiftHook
from pgshift.scope import Scope
from pgshift.validation import (
    identifier_problem,
    positive_problem,
    slot_name_problem,
    table_list_problems,
)

MIN_MAJOR = 16
# AWS DMS engine versions that first support a PostgreSQL major as a source (AWS documentation).
DMS_MIN_ENGINE = {16: (3, 5, 3), 17: (3, 6, 1)}
MODES = ("native", "dms")


def _major(version_num: int) -> int:
    return version_num // 10000


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


class ChainPreflightOperator(BaseOperator):
    """Check everything the chain needs before anything is changed; fail with the full list.

    Read-only on A, B and C (catalog and settings queries, ``postgres --version`` on host B).
    Returns the facts it read (versions, settings, tables in scope) for later steps and reports.
    """

    template_fields: Sequence[str] = (
        "mode", "conn_a", "conn_a_replication", "conn_b", "conn_b_source", "conn_c", "ssh_conn_id", "aws_conn_id",
        "os_user", "bin_dir", "data_dir", "publication", "physical_slot", "slot", "subscription", "schemas",
        "tables", "thresholds", "allow_existing_tables_on_c", "move_aside_data_dir", "dms_engine_version",
    )

    def __init__(self, *, mode: str, conn_a: str, conn_a_replication: str, conn_b: str, conn_b_source: str,
                 conn_c: str, ssh_conn_id: str | None, aws_conn_id: str | None, os_user: str | None,
                 bin_dir: str, data_dir: str, publication: str, physical_slot: str, slot: str, subscription: str,
                 schemas: list[str] | None = None, tables: list[str] | None = None,
                 thresholds: dict[str, Any] | None = None, allow_existing_tables_on_c: bool = False,
                 move_aside_data_dir: bool = False, dms_engine_version: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode, self.conn_a, self.conn_a_replication, self.conn_b = mode, conn_a, conn_a_replication, conn_b
        self.conn_b_source, self.conn_c = conn_b_source, conn_c
        self.ssh_conn_id, self.aws_conn_id = ssh_conn_id, aws_conn_id
        self.os_user, self.bin_dir, self.data_dir = os_user, bin_dir, data_dir
        self.publication, self.subscription = publication, subscription
        self.physical_slot, self.slot = physical_slot, slot
        self.schemas, self.tables, self.thresholds = schemas, tables, thresholds or {}
        self.allow_existing_tables_on_c, self.move_aside_data_dir = allow_existing_tables_on_c, move_aside_data_dir
        self.dms_engine_version = dms_engine_version

    # -- entry point
    def execute(self, context: Context) -> dict[str, Any]:
        problems: list[str] = []
        facts: dict[str, Any] = {}
        problems += self._check_params()
        if not problems:  # names are safe to use in queries from here on
            facts["a"] = self._check_a(problems)
            facts["b"] = self._check_b(problems, facts["a"])
            facts["c"] = self._check_c(problems, facts["a"].get("tables", []))
            if self.mode == "dms":
                self._check_dms(problems, facts["a"])
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise AirflowFailException(
                f"Preflight found {len(problems)} problem(s); nothing was changed:\n{listing}")
        self.log.info("Preflight passed: A %s, B %s, C %s, %d tables in scope",
                      facts["a"].get("version"), facts["b"].get("version"), facts["c"].get("version"),
                      len(facts["a"]["tables"]))
        return facts

    # -- parameters
    def _check_params(self) -> list[str]:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for value, what in ((self.physical_slot, "physical_slot_name"), (self.slot, "slot_name")):
            if p := slot_name_problem(value, what):
                problems.append(p)
        if self.physical_slot == self.slot:
            problems.append("physical_slot_name and slot_name must differ")
        for value, what in ((self.publication, "publication_name"), (self.subscription, "subscription_name")):
            if p := identifier_problem(value, what):
                problems.append(p)
        for schema in self.schemas or []:
            if p := identifier_problem(schema, f"schemas: {schema!r}"):
                problems.append(p)
        problems += table_list_problems(self.tables or [])
        for key, value in self.thresholds.items():
            if p := positive_problem(value, key):
                problems.append(p)
        for conn_id, what in ((self.conn_a, "conn_a"), (self.conn_a_replication, "conn_a_replication"),
                              (self.conn_b, "conn_b"), (self.conn_b_source, "conn_b_subscription"),
                              (self.conn_c, "conn_c")):
            if not conn_id:
                problems.append(f"{what} (an Airflow connection id) is empty")
        if not str(self.data_dir or "").startswith("/"):
            problems.append(f"b_data_dir must be an absolute path, got {self.data_dir!r}")
        return problems

    # -- A
    def _check_a(self, problems: list[str]) -> dict[str, Any]:
        try:
            with PgShiftHook(self.conn_a) as a:
                facts = a.fetch_one("server_facts")
                repl_user = BaseHook.get_connection(self.conn_a_replication).login
                source_user = BaseHook.get_connection(self.conn_b_source).login
                repl_role = a.fetch_one("role_attributes", (repl_user,))
                source_role = a.fetch_one("role_attributes", (source_user,))
                scope = Scope.from_params(self.schemas, self.tables)
                tables = a.fetch("scope_tables", scope.query_params(source_user if source_role else "public"))
                present_schemas = {r["schema"] for r in a.fetch("schemas_present", (list(scope.schemas),))}
                publication = a.fetch_one("publication_state", (self.publication,))
                physical = a.fetch_one("physical_slot", (self.physical_slot,))
        except Exception as exc:  # noqa: BLE001 - reported, with every other problem
            problems.append(f"A ({self.conn_a}): cannot connect or read: {exc}".strip())
            return {}
        major = _major(facts["version_num"])
        if major < MIN_MAJOR:
            problems.append(f"A runs PostgreSQL {facts['version']}: logical decoding on a standby needs "
                            f"{MIN_MAJOR} or newer on A and B (PostgreSQL 14/15 cannot decode on a standby)")
        if facts["wal_level"] != "logical":
            problems.append(f"A runs with wal_level={facts['wal_level']}: logical decoding on the standby B "
                            "requires wal_level=logical on the primary too (set it in postgresql.conf, not on the "
                            "command line, so that B inherits it, and restart A)")
        slots_needed = 0 if physical else 1
        if facts["max_replication_slots"] - facts["slots_used"] < slots_needed:
            problems.append(f"A has max_replication_slots={facts['max_replication_slots']} with "
                            f"{facts['slots_used']} in use: no room for the physical slot of B")
        if facts["max_wal_senders"] - facts["senders_used"] < 1 and not (physical and physical["active"]):
            problems.append(f"A has max_wal_senders={facts['max_wal_senders']} with {facts['senders_used']} "
                            "in use: no walsender left for B")
        if facts["max_replication_slots"] < 2 + len(tables or []) // 4:
            problems.append(f"max_replication_slots={facts['max_replication_slots']} (inherited by B) is too low "
                            "for the logical slot and the table-sync slots of the initial copy")
        if repl_role is None:
            problems.append(f"replication role {repl_user!r} (connection {self.conn_a_replication}) "
                            "does not exist on A")
        elif not repl_role["rolreplication"] and not repl_role["rolsuper"]:
            problems.append(f"role {repl_user!r} (connection {self.conn_a_replication}) "
                            "lacks the REPLICATION attribute")
        elif not repl_role["rolcanlogin"]:
            problems.append(f"role {repl_user!r} (connection {self.conn_a_replication}) cannot log in")
        if source_role is None:
            problems.append(f"role {source_user!r} (connection {self.conn_b_source}, used by C/DMS to read B) "
                            "does not exist on A (B's roles are A's)")
        elif not source_role["rolreplication"] and not source_role["rolsuper"]:
            problems.append(f"role {source_user!r} (connection {self.conn_b_source}) lacks the REPLICATION attribute")
        for schema in scope.schemas:
            if schema not in present_schemas:
                problems.append(f"schema {schema!r} does not exist on A")
        found = {(r["schema"], r["table"]) for r in tables}
        for schema, table in scope.tables:
            if (schema, table) not in found:
                problems.append(f"table {schema}.{table} does not exist on A")
        if not tables and not problems:
            problems.append(f"no tables in scope ({scope.describe()}) on A")
        for r in tables:
            name = f"{r['schema']}.{r['table']}"
            ident = r["replica_identity"]
            if ident == "n" or (ident == "d" and not r["has_pk"]) or (ident == "i" and not r["has_identity_index"]):
                problems.append(
                    f"table {name} has no primary key or replica identity: once published, its UPDATE and "
                    f"DELETE on A would fail (add a primary key, or ALTER TABLE {name} REPLICA IDENTITY FULL)")
            if source_role and not r["role_can_select"] and not source_role["rolsuper"]:
                problems.append(f"role {source_user!r} cannot SELECT {name}: the initial copy reads it as that role "
                                f"(GRANT SELECT ON {name} TO {source_user})")
        if publication and not scope.matches_publication(publication):
            problems.append(f"publication {self.publication!r} already exists on A with a different table set")
        return {**facts, "major": major, "tables": [f"{r['schema']}.{r['table']}" for r in tables]}

    # -- B
    def _check_b(self, problems: list[str], a: dict[str, Any]) -> dict[str, Any]:
        try:
            with PgShiftHook(self.conn_b, connect_timeout=5) as b:
                facts = b.fetch_one("server_facts")
        except Exception:  # noqa: BLE001 - not running yet: look at host B instead
            facts = None
        if facts is not None:
            major = _major(facts["version_num"])
            if major < MIN_MAJOR:
                problems.append(f"B runs PostgreSQL {facts['version']}: logical decoding on a standby needs "
                                f"{MIN_MAJOR} or newer (PostgreSQL 14/15 cannot decode on a standby)")
            elif a.get("major") and major != a["major"]:
                problems.append(f"B runs PostgreSQL {major}, A runs {a['major']}: "
                                "a physical standby needs the same major")
            if not facts["in_recovery"]:
                problems.append(f"B ({self.conn_b}) is running and is not a standby: refusing to touch a primary")
            return {**facts, "major": major, "running": True}
        host = HostB(self.ssh_conn_id, self.os_user)
        try:
            version = host.run([f"{str(self.bin_dir).rstrip('/')}/postgres", "--version"], timeout=30)
            contents = host.run(["sh", "-c", 'ls -A "$1" 2>/dev/null | head -n 1', "sh", str(self.data_dir)],
                                timeout=30)
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            problems.append(f"{host.where}: cannot run commands: {exc}")
            return {"running": False}
        if version.returncode:
            problems.append(f"{host.where}: {self.bin_dir}/postgres --version failed: "
                            f"{(version.stderr or version.stdout).strip()}")
            return {"running": False}
        text = version.stdout.strip()
        found = re.search(r"\(PostgreSQL\)\s+(\d+)", text) or re.search(r"(\d+)", text)
        major = int(found.group(1)) if found else 0
        if major < MIN_MAJOR:
            problems.append(f"B's binaries are {text} ({self.bin_dir}): PostgreSQL {major} cannot do logical "
                            f"decoding on a standby; B needs PostgreSQL {MIN_MAJOR} or newer")
        elif a.get("major") and major != a["major"]:
            problems.append(f"B's binaries are PostgreSQL {major}, A runs {a['major']}: a physical standby needs "
                            "the same major version")
        if contents.stdout.strip() and not self.move_aside_data_dir:
            problems.append(f"B's data directory {self.data_dir} is not empty: set move_aside_data_dir to move it "
                            "aside (mv data data_old), or empty it")
        return {"version": text, "major": major, "running": False}

    # -- C
    def _check_c(self, problems: list[str], tables: list[str]) -> dict[str, Any]:
        try:
            with PgShiftHook(self.conn_c) as c:
                info = c.fetch_one("server_facts")
                subscription = c.fetch_one("subscription_state", (self.subscription,))
                pairs = [t.split(".", 1) for t in tables]
                present = c.fetch("tables_present", {"tschemas": [p[0] for p in pairs],
                                                     "tnames": [p[1] for p in pairs]})
        except Exception as exc:  # noqa: BLE001
            problems.append(f"C ({self.conn_c}): cannot connect or read: {exc}".strip())
            return {}
        if info["in_recovery"]:
            problems.append(f"C ({self.conn_c}) is a read-only standby: it cannot receive the migration")
        if subscription:
            if subscription["slot_name"] != self.slot:
                problems.append(f"subscription {self.subscription!r} already exists on C with slot "
                                f"{subscription['slot_name']!r}, not {self.slot!r}")
        elif present and not self.allow_existing_tables_on_c:
            names = ", ".join(f"{r['schema']}.{r['table']}" for r in present)
            problems.append(f"C already holds {len(present)} of the tables in scope ({names}): the initial copy "
                            "would add rows to them; drop them on C or set allow_existing_tables_on_c")
        return {**info, "subscription_exists": bool(subscription)}

    # -- DMS
    def _check_dms(self, problems: list[str], a: dict[str, Any]) -> None:
        from airflow.providers.amazon.aws.hooks.dms import DmsHook

        try:
            DmsHook(aws_conn_id=self.aws_conn_id or None).conn.describe_replication_instances(MaxRecords=20)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"AWS DMS ({self.aws_conn_id}): cannot call DescribeReplicationInstances: {exc}")
        major = a.get("major")
        wanted = DMS_MIN_ENGINE.get(major or 0)
        version = _version_tuple(self.dms_engine_version or "")
        if wanted and version and version < wanted:
            problems.append(f"DMS engine {self.dms_engine_version} cannot read PostgreSQL {major}: it needs "
                            f"{'.'.join(map(str, wanted))} or newer")
        elif major and major > max(DMS_MIN_ENGINE):
            self.log.warning("No DMS engine version is known to pgshift to support PostgreSQL %s as a source: "
                             "check the AWS DMS documentation before relying on it", major)
