"""hybrid_aurora_migration: on-prem PostgreSQL A -> hot standby B -> Aurora PostgreSQL C.

A physical standby B (pg_basebackup -R -X stream through a physical slot) takes the logical decoding
load off A; C subscribes to B natively (publication/subscription) or through AWS DMS (full load +
CDC with test_decoding). docs/params.md describes every param; docs/migration.md is the runbook.

Every run starts with ``configuration``: the chain that the last finished setup recorded (an Airflow
Variable, written by setup's last task ``record_configuration``) under the run's own conf, so that a
scheduled run, which has no conf, validates the chain that was built (see pgshift.migration.configuration).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, BaseOperator, Param, TaskGroup, XComArg, get_current_context, task
from airflow.sdk.definitions.xcom_arg import PlainXComArg
from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk.types import DagRunProtocol

from pgshift.common.dag_defaults import dag_arguments, deadline_enabled, deadline_notifiers, with_schema_draft
from pgshift.migration import configuration as chain_config
from pgshift.migration.config import Action, ChainConfig, Mode
from pgshift.migration.operators.basebackup import BasebackupOperator
from pgshift.migration.operators.cutover import CutoverGateOperator, CutoverOperator
from pgshift.migration.operators.dms import (
    DmsEndpointsOperator,
    DmsReplicationInstanceOperator,
    DmsReplicationTaskOperator,
    DmsStartTaskOperator,
)
from pgshift.migration.operators.fallback import FallbackOperator, FinishOperator
from pgshift.migration.operators.fence_watchdog import FenceWatchdogOperator
from pgshift.migration.operators.initial_copy import InitialCopyOperator
from pgshift.migration.operators.preflight import ChainPreflightOperator
from pgshift.migration.operators.promote_b import PromoteBOperator
from pgshift.migration.operators.publication import CreatePublicationOperator
from pgshift.migration.operators.roles import MigrateRolesOperator
from pgshift.migration.operators.schema import CopySchemaOperator
from pgshift.migration.operators.slot import LogicalSlotOperator
from pgshift.migration.operators.subscription import CreateSubscriptionOperator
from pgshift.migration.operators.synchronous import SynchronousStandbyOperator
from pgshift.migration.operators.validate import ValidateChainOperator
from pgshift.migration.sensors.replication import (
    CdcLagSensor,
    DmsTaskRunningSensor,
    SubscriptionSyncedSensor,
    WalLagSensor,
)
from pgshift.migration.sync import settings as sync_settings

log = logging.getLogger(__name__)
DAG_ID = "hybrid_aurora_migration"
DEADLINE = timedelta(hours=24)
SCHEDULE = "@hourly"  # validation runs; a scheduled run is always read-only
ACTIONS = tuple(a.value for a in Action)
ACTION_TASKS: dict[str, list[str]] = {}  # filled by build_dag: the tasks each action runs
# "x-": a scheme of our own, which Airflow leaves unnormalized; any other unknown scheme makes it load every
# provider's URI handlers (the amazon provider's import boto3) each time this file is parsed.
MIGRATED = Asset(name="pgshift_migration_done", uri="x-pgshift://hybrid_aurora_migration/cutover")
CONFIGURATION_TASK = "configuration"


# The run's chain configuration (pgshift.migration.config.ChainConfig.as_dict), built once by the configuration task:
# every migration operator takes it as its one templated ``config`` (the DAG renders templates as native objects).
CONFIG = f"{{{{ ti.xcom_pull(task_ids='{CONFIGURATION_TASK}')['config'] }}}}"


# PostgreSQL names pgshift creates or fences: what PostgreSQL allows for a slot name (lower-case letters, digits,
# underscores, at most 63), applied to every name so that the API refuses bad input with 400 before a run exists.
NAME_PATTERN = "^[a-z0-9_]{1,63}$"
# AWS DMS identifiers: a letter first, then letters, digits and hyphens.
DATABASE_PATTERN = "^([a-z_][a-z0-9_]{0,39}|[*])$"  # pgshift.migration.config.DATABASE_NAME, or '*'
DMS_ID_PATTERN = "^[A-Za-z][A-Za-z0-9-]{0,254}$"


def _name(default: str, title: str) -> Param:
    return Param(default, type="string", pattern=NAME_PATTERN, title=title, section="Names",
                 description="Lower-case letters, digits and underscores; at most 63.")


def _dms_id(default: str, title: str) -> Param:
    return Param(default, type="string", pattern=DMS_ID_PATTERN, maxLength=255, title=title, section="DMS",
                 description="A letter, then letters, digits and hyphens.")


def _conn(default: str, title: str, description: str) -> Param:
    return Param(default, type="string", title=title, description=description, section="Connections")


PARAMS: dict[str, Param] = with_schema_draft({
    "action": Param("validate", type="string", enum=list(ACTIONS), title="Action",
                    description="validate (the scheduled default): read-only health, slot safety and parity report. "
                                "setup: build the chain. cutover: gate, fence A, drain, verify, set sequences, "
                                "finalize. fallback: after a cutover, back to A (fence C, drain C -> A, verify, "
                                "unfence A). finish: drop the way back and the chain's leftovers, A stays fenced. "
                                "promote_b: A lost, promote B and go on B -> C (needs A unreachable or "
                                "confirm_promote_b). A scheduled run always validates, whatever this says.",
                    values_display={"validate": "Validate (read-only)", "setup": "Set up the chain",
                                    "cutover": "Cut over to C", "fallback": "Fall back to A",
                                    "finish": "Finish (drop the way back)",
                                    "promote_b": "Promote B (A lost)"}),
    "mode": Param("native", type="string", enum=["native", "dms"], title="B -> C method",
                  description="native: PostgreSQL publication/subscription from B. dms: AWS DMS full load + CDC "
                              "reading B's slot with test_decoding.",
                  values_display={"native": "Native logical replication", "dms": "AWS DMS"}),
    "conn_a": _conn("pgshift_a", "A (on-prem primary)", "Superuser connection to A, in the database to migrate."),
    "conn_a_replication": _conn("pgshift_a_replication", "A, replication role",
                                "Role with REPLICATION that B's WAL receiver (pg_basebackup -R) uses."),
    "conn_b": _conn("pgshift_b", "B (standby)", "Superuser connection to B, as Airflow reaches it."),
    "conn_b_subscription": _conn("pgshift_b_replication", "B as C/DMS reach it",
                                 "Role with REPLICATION and SELECT on the tables; host as seen from C or DMS."),
    "conn_c": _conn("pgshift_c", "C (Aurora)", "Connection to C with rights to create tables and subscriptions."),
    "ssh_conn_id": Param(None, type=["null", "string"], title="SSH to host B", section="Connections",
                         description="SSH connection to B's host for pg_basebackup. Empty: run on this worker."),
    "aws_conn_id": _conn("aws_default", "AWS", "AWS connection for DMS (dms mode only)."),
    "databases": Param([], type="array", items={"type": "string", "pattern": DATABASE_PATTERN}, uniqueItems=True,
                       title="Databases", section="What to migrate",
                       description="The databases of A to migrate, in one chain and one cutover. Empty: the one "
                                   "conn_a names. [\"*\"]: every database of A that is not a template and allows "
                                   "connections (listed at setup). The first keeps the object names as given; each "
                                   "other one gets _<database> after them (-<database> after DMS ids)."),
    "schemas": Param([], type="array", items={"type": "string"}, title="Schemas", section="What to migrate",
                     description="Migrate every table of these schemas. Empty with no tables: all tables."),
    "tables": Param([], type="array", items={"type": "string"}, title="Tables", section="What to migrate",
                    description="schema.table names to migrate besides the schemas above."),
    "publication_name": _name("pgshift_pub", "Publication (on A)"),
    "physical_slot_name": _name("pgshift_b_physical", "Physical slot (on A)"),
    "slot_name": _name("pgshift_c_logical", "Logical slot (on B)"),
    "subscription_name": _name("pgshift_sub", "Subscription (on C)"),
    "b_data_dir": Param("/var/lib/postgresql/17/main", type="string", title="B data directory", section="Host B",
                        description="Filled by pg_basebackup; must be empty unless move_aside_data_dir."),
    "b_bin_dir": Param("/usr/lib/postgresql/17/bin", type="string", title="B PostgreSQL bin directory",
                       section="Host B", description="PostgreSQL >= 16, same major as A."),
    "b_port": Param(5432, type="integer", minimum=1, maximum=65535, title="B port", section="Host B"),
    "b_os_user": Param(None, type=["null", "string"], title="B OS user (local mode)", section="Host B",
                       description="Without SSH: run pg_basebackup/pg_ctl as this user (needed when the worker "
                                   "runs as root). Over SSH the SSH login user is used."),
    "b_start_command": Param(None, type=["null", "string"], title="B start command", section="Host B",
                             description="How to start B after the backup (e.g. sudo systemctl start "
                                         "postgresql@17-main). Empty: pg_ctl start."),
    "move_aside_data_dir": Param(False, type="boolean", title="Move a non-empty B data directory aside",
                                 section="Host B", description="mv data data_old_<timestamp> before the backup."),
    "allow_existing_tables_on_c": Param(False, type="boolean", title="Allow tables already on C",
                                        section="Safety"),
    "accept_large_object_loss": Param(False, type="boolean", title="Migrate without A's large objects",
                                      section="Safety",
                                      description="Logical replication does not carry large objects: preflight "
                                                  "refuses a database that has any, unless this accepts that C "
                                                  "will not have them (the preflight's facts record it)."),
    "wal_lag_max_bytes": Param(16 * 2**20, type="integer", minimum=0, title="A->B lag limit (bytes)",
                               section="Thresholds"),
    "wal_lag_max_seconds": Param(30, type="number", minimum=0, title="A->B lag limit (seconds)",
                                 section="Thresholds"),
    "cdc_lag_max_bytes": Param(16 * 2**20, type="integer", minimum=0, title="B->C lag limit (bytes)",
                               section="Thresholds"),
    "poll_interval_seconds": Param(5, type="number", minimum=0.1, maximum=300, title="Sensor poll interval",
                                   section="Thresholds"),
    "slot_create_timeout_seconds": Param(300, type="integer", minimum=1, title="Slot creation timeout (s)",
                                         section="Thresholds"),
    "app_roles": Param([], type="array", items={"type": "string", "pattern": NAME_PATTERN},
                       title="Application roles to fence on A", section="Cutover",
                       description="They lose LOGIN and their sessions are terminated at the fence; they get LOGIN "
                                   "back if the cutover fails. A cutover refuses to start without them."),
    "app_role_connections": Param({}, type="object", additionalProperties={"type": "string", "minLength": 1},
                                  propertyNames={"pattern": NAME_PATTERN}, title="App role connections on C",
                                  section="Cutover",
                                  description="Role -> Airflow connection id that logs in to C as that role, for the "
                                              "cutover's login proof (its password proves the migrated one). A role "
                                              "without one is proven by SET ROLE from pgshift's own session."),
    "extra_roles": Param([], type="array", items={"type": "string", "pattern": NAME_PATTERN},
                         title="Extra roles to migrate", section="Roles on C",
                         description="Roles migrated to C besides those the catalog names (owners, grantees, policy "
                                     "and default-privilege roles of the migrated objects, app_roles, and their "
                                     "memberships both ways)."),
    "exclude_roles": Param([], type="array", items={"type": "string", "pattern": NAME_PATTERN},
                           title="Roles not to migrate", section="Roles on C",
                           description="Roles left out (they must exist on C already if migrated objects name them)."),
    "memberships_on_c": Param({}, type="object",
                              additionalProperties={"type": "array", "items": {"type": "string", "minLength": 1}},
                              propertyNames={"pattern": NAME_PATTERN}, title="Memberships wanted on C only",
                              section="Roles on C",
                              description="Role -> groups it joins on C only, e.g. "
                                          "{\"app_admin\": [\"rds_superuser\"]}: Aurora's rds_* grants are asked "
                                          "for, never guessed."),
    "dry_run": Param(True, type="boolean", title="Dry run", section="Cutover",
                     description="Gate, drain, verify and report without fencing A or finalizing. On by default: "
                                 "a real cutover needs dry_run false, said explicitly."),
    "gate_readings": Param(3, type="integer", minimum=1, maximum=60, title="Gate: consecutive readings",
                           section="Cutover"),
    "gate_interval_seconds": Param(1.0, type="number", minimum=0, maximum=60, title="Gate: seconds between readings",
                                   section="Cutover"),
    "gate_window_seconds": Param(60, type="number", minimum=0, maximum=3600, title="Gate: window (s)",
                                 section="Cutover",
                                 description="The consecutive readings must come within this; a reading out of "
                                             "bounds starts the count again."),
    "drain_timeout_seconds": Param(120, type="number", minimum=1, maximum=3600, title="Drain timeout (s)",
                                   section="Cutover",
                                   description="How long C may take to confirm A's final LSN before the cutover "
                                               "rolls back."),
    "verify": Param("delta", type="string", enum=["delta", "full"], title="Cutover verification", section="Cutover",
                    description="delta: every table compared B against C at a frozen point of B's replay before the "
                                "fence, then only the rows written since, A against C, inside it (downtime that does "
                                "not grow with the database). full: every table hashed on A and C inside the fence.",
                    values_display={"delta": "Before the fence, then the last changes",
                                    "full": "Every table inside the fence"}),
    "max_write_downtime_seconds": Param(60, type="number", exclusiveMinimum=0, maximum=86400,
                                        title="Longest predicted write downtime (s)", section="Cutover",
                                        description="verify=delta forecasts the write downtime before the fence "
                                                    "(drain, rows left to verify, other phases) and refuses the "
                                                    "cutover, A untouched, when it predicts more."),
    "verify_parallelism": Param(4, type="integer", minimum=1, maximum=32, title="Tables verified in parallel",
                                section="Cutover"),
    "parity": Param("sample", type="string", enum=["sample", "full", "off"], title="Validation parity",
                    section="Validation",
                    description="sample: sampled rows of B against C. full: every table's row count and content "
                                "hash, B against C at a frozen point of B's replay. Neither reads A. off: none."),
    "parity_sample_rows": Param(200, type="integer", minimum=1, maximum=100000, title="Sampled rows per table",
                                section="Validation"),
    "max_replay_pause_seconds": Param(300, type="integer", minimum=1, maximum=3600,
                                      title="Longest pause of B's replay (s)", section="Validation",
                                      description="parity=full and the cutover's verify=delta pause B's replay to "
                                                  "compare B and C at one position (A is not read); past this the "
                                                  "comparison is abandoned and replay resumed."),
    "max_retained_wal_bytes": Param(8 * 2**30, type="integer", minimum=0, section="Validation",
                                    title="Retained WAL limit (bytes)",
                                    description="WAL the logical slot keeps on B, or the physical slot keeps on A, "
                                                "above this is a problem."),
    "min_safe_wal_bytes": Param(2**30, type="integer", minimum=0, section="Validation",
                                title="Slot safe_wal_size floor (bytes)",
                                description="A slot closer than this to losing its WAL (max_slot_wal_keep_size) is "
                                            "a problem."),
    "chart_runs": Param(48, type="integer", minimum=2, maximum=1000, title="Runs in the lag chart",
                        section="Validation"),
    "report_dir": Param(None, type=["null", "string"], title="Report directory", section="Validation",
                        description="Where JSON reports and the lag chart go. Empty: $PGSHIFT_REPORT_DIR, else "
                                    "$AIRFLOW_HOME/pgshift-reports."),
    # -- Way back: reverse replication C -> A, armed inside the cutover
    # (pgshift.migration.switchover.cutover.fallback_phases)
    "fallback": Param(True, type="boolean", title="Arm the way back (C -> A)", section="Way back",
                      description="Arm reverse replication C -> A inside the cutover: every write made on C reaches "
                                  "A (and B), so action=fallback can return to A without losing one."),
    "fallback_publication_name": Param("pgshift_fallback_pub", type="string", pattern=NAME_PATTERN,
                                       title="Fallback publication (on C)", section="Way back",
                                       description="Lower-case letters, digits and underscores; at most 63."),
    "fallback_subscription_name": Param("pgshift_fallback", type="string", pattern=NAME_PATTERN,
                                        title="Fallback subscription (on A)", section="Way back",
                                        description="Its slot on C has the same name. Lower-case letters, digits "
                                                    "and underscores; at most 63."),
    "conn_c_subscription": Param("pgshift_c_replication", type="string", title="C as A reaches it",
                                 section="Way back",
                                 description="Role with REPLICATION (rds_replication on Aurora) and SELECT on the "
                                             "migrated tables; host as seen from A. Its URI becomes A's subscription "
                                             "conninfo."),
    "dms_replication_instance_id": _dms_id("pgshift-instance", "DMS replication instance"),
    "dms_instance_class": Param("dms.t3.medium", type="string", title="DMS instance class", section="DMS"),
    "dms_engine_version": Param("3.6.1", type="string", title="DMS engine version", section="DMS",
                                description=">= 3.5.3 for PostgreSQL 16 sources, >= 3.6.1 for 17."),
    "dms_task_id": _dms_id("pgshift-b-to-c", "DMS task id"),
    "dms_source_endpoint_id": _dms_id("pgshift-source-b", "DMS source endpoint"),
    "dms_target_endpoint_id": _dms_id("pgshift-target-c", "DMS target endpoint"),
    "dms_ssl_mode": Param("require", type="string", enum=["none", "require", "verify-ca", "verify-full"],
                          title="DMS SSL mode", section="DMS"),
    "dms_max_full_load_subtasks": Param(8, type="integer", minimum=1, maximum=49, title="DMS tables loaded at once",
                                        section="DMS",
                                        description="FullLoadSettings.MaxFullLoadSubTasks: tables (or segments of a "
                                                    "parallel-loaded table) loaded in parallel; DMS's default 8."),
    "dms_parallel_load_partitions": Param([], type="array", items={"type": "string"}, section="DMS",
                                          title="DMS: tables loaded by partition",
                                          description="schema.table of partitioned tables to load one partition per "
                                                      "subtask (parallel-load partitions-auto)."),
    "dms_parallel_load_ranges": Param({}, type="object", section="DMS", title="DMS: tables loaded by ranges",
                                      additionalProperties={"type": "object", "additionalProperties": {
                                          "type": "array", "items": {"type": "string"}}},
                                      description='schema.table -> {column: [boundaries]} (parallel-load ranges), '
                                                  'e.g. {"public.orders": {"id": ["1000000", "2000000"]}}: three '
                                                  'segments, id < 1000000, < 2000000, the rest. Every column has '
                                                  'as many boundaries.'),
    "dms_lob_mode": Param("limited", type="string", enum=["limited", "full", "inline"], title="DMS LOB mode",
                          section="DMS", values_display={"limited": "Limited (truncates longer LOBs)",
                                                         "full": "Full (every LOB, slow)",
                                                         "inline": "Inline (small LOBs inline, the rest full)"},
                          description="limited: LOBs up to the max size, in bulk (AWS's advice when the largest "
                                      "LOB is known); full: any size, piece by piece; inline: full mode with the "
                                      "small ones sent inline."),
    "dms_lob_max_size_kb": Param(32, type="integer", minimum=1, maximum=102400, section="DMS",
                                 title="DMS max LOB size (KB, limited mode)",
                                 description="TargetMetadata.LobMaxSize; longer LOBs are truncated."),
    "dms_lob_chunk_size_kb": Param(64, type="integer", minimum=1, maximum=102400, section="DMS",
                                   title="DMS LOB chunk size (KB, full/inline mode)",
                                   description="TargetMetadata.LobChunkSize; AWS advises 64."),
    "dms_inline_lob_max_size_kb": Param(32, type="integer", minimum=1, maximum=102400, section="DMS",
                                        title="DMS inline LOB max size (KB, inline mode)",
                                        description="TargetMetadata.InlineLobMaxSize: LOBs up to it go inline."),
    "confirm_promote_b": Param(False, type="boolean", title="Confirm promote_b while A answers", section="A lost",
                               description="action=promote_b refuses while A answers unless this is true: the DBA's "
                                           "word that A takes no more writes (pgshift does not fence A then)."),
    "synchronous_standby": Param(False, type="boolean", title="B a synchronous standby of A", section="A lost",
                                 description="While the chain runs, A's commits wait until B has flushed them "
                                             "(synchronous_standby_names on A names B, set at setup): losing A then "
                                             "loses no commit A acknowledged. Costs each commit on A a round trip to "
                                             "B. If B is gone, the DAG hybrid_aurora_migration_sync_guard (in the "
                                             "triggerer) makes A asynchronous again after synchronous_fallback_seconds "
                                             "instead of stopping A's writes, and synchronous when B has caught up. "
                                             "finish restores A's earlier value."),
    "synchronous_fallback_seconds": Param(10, type="number", exclusiveMinimum=0, maximum=3600, section="A lost",
                                          title="Synchronous: fall back after (s)",
                                          description="With synchronous_standby: how long A's commits may wait for "
                                                      "a B that is not a synchronous standby (gone, not streaming, "
                                                      "not answering) before the guard empties "
                                                      "synchronous_standby_names on A; add the guard's poll (1 s)."),
    "ddl": Param("apply_additive", type="string", enum=["report", "apply_additive"], section="Validation",
                 title="Schema changes on A",
                 description="Validation compares A's and C's schemas and names each difference with the statement "
                             "that makes C match A. apply_additive (native mode): it also runs the additive ones on "
                             "C (a new column, table, index, sequence, enum value, constraint, view, function), so "
                             "the apply worker goes on and a new table's rows are copied. report: it runs nothing. A "
                             "destructive change is never run; the cutover refuses any difference."),
    "initial_copy": Param("subscription", type="string", enum=["subscription", "parallel"], section="Setup",
                          title="C's first copy",
                          description="subscription: C's subscription copies each table (copy_data, a table-sync "
                                      "worker per table). parallel (native mode): B's replay frozen at L, every "
                                      "table copied in block ranges by copy_workers sessions, verified B against C "
                                      "at L, the slot moved to L, indexes and constraints built after the data; the "
                                      "subscription then streams from L."),
    "copy_workers": Param(0, type="integer", minimum=0, maximum=64, section="Setup",
                          title="Parallel copy sessions",
                          description="initial_copy=parallel: sessions copying at once (and pg_restore's jobs for "
                                      "the indexes); 0: the worker's cores, at least 2."),
    "max_copy_pause_seconds": Param(43200, type="integer", minimum=60, maximum=604800, section="Setup",
                                    title="Longest pause of B's replay for the copy (s)",
                                    description="initial_copy=parallel holds B's replay at L while it copies and "
                                                "verifies (A keeps taking writes; B keeps receiving them); past "
                                                "this the copy is abandoned, B resumed, nothing streamed."),
})
DEFAULTS: dict[str, Any] = {name: param.value for name, param in PARAMS.items()}
SCHEMAS: dict[str, dict[str, Any]] = {name: param.schema for name, param in PARAMS.items()}


def run_action(params: Mapping[str, Any], dag_run: DagRunProtocol | None) -> Action:
    """The action a run performs: its ``action`` param, except that a scheduled run always validates."""
    action = params.get("action")
    run_type = getattr(dag_run, "run_type", None)
    if getattr(run_type, "value", run_type) == "scheduled" and action != Action.VALIDATE:
        log.warning("A scheduled run only validates; ignoring action=%r", action)
        return Action.VALIDATE
    return Action(action) if action in ACTIONS else Action.VALIDATE


def run_config() -> ChainConfig:
    """Inside a TaskFlow task of this DAG: the run's ChainConfig, from the configuration task's XCom."""
    ti = get_current_context()["ti"]
    return ChainConfig.from_values(ti.xcom_pull(task_ids=CONFIGURATION_TASK)["config"])


def build_dag(*, with_deadline: bool = True, with_watchdog: bool = True) -> DAG:
    """The DAG. ``with_deadline=False`` exists only for dag.test(), which crashes on deadlines in 3.3.2;
    ``with_watchdog=False`` only for dag.test() too, which runs one task at a time: the fence watchdog must
    run beside the cutover, in a triggerer, to watch it.

    Each action's tasks are in a TaskGroup of their own, so that a run's graph shows the path it took; the groups
    do not prefix their tasks' ids (``ACTION_TASKS``, tests, REST users and the XCom pulls name them)."""
    with DAG(
        **dag_arguments(DAG_ID, DEADLINE, with_deadline),
        description="A -> B (physical standby) -> C (Aurora) migration chain",
        doc_md=__doc__,
        schedule=SCHEDULE,
        params=PARAMS,
        tags=["pgshift", "migration"],
    ) as dag:
        @task(task_id=CONFIGURATION_TASK)
        def configuration() -> dict[str, Any]:
            """DAG defaults <- the recorded chain <- this run's conf, as the run's ChainConfig (``['config']``); fails
            or skips when there is no chain to check."""
            context = get_current_context()
            params, dag_run = context["params"], context["dag_run"]
            action = run_action(params, dag_run)
            conf = {k: params[k] for k in (dag_run.conf or {}) if k in params}
            record = chain_config.load_record(DAG_ID, SCHEMAS)
            effective = chain_config.merge(DAG_ID, action, DEFAULTS, record, conf)
            log.info("Configuration for action=%s: %s", action, effective.summary())
            for line in chain_config.describe(effective):
                log.info("  %s", line)
            if effective.kept_over_conf:
                log.info("Conf keys at their DAG default, recorded value kept: %s", ", ".join(effective.kept_over_conf))
            chain_config.check_chain(effective, action)
            return effective.as_xcom(chain_config.with_databases(effective.config(params, action)))

        @task.branch(task_id="choose_action", retries=1)
        def choose_action(params: Mapping[str, Any] | None = None, dag_run: DagRunProtocol | None = None) -> list[str]:
            """setup -> the chain; cutover -> gate and cutover; fallback/finish -> the way back; validate (and every
            scheduled run) -> validate."""
            return ACTION_TASKS.get(run_action(params or {}, dag_run), ["validate"])

        config = configuration()
        action = choose_action()
        config >> action

        with TaskGroup("validation", prefix_group_id=False, tooltip="action=validate: read-only health and parity"):
            validate = ValidateChainOperator(
                task_id="validate", config=CONFIG, execution_timeout=timedelta(minutes=30),
                configuration=f"{{{{ ti.xcom_pull(task_ids='{CONFIGURATION_TASK}') }}}}",
            )

        with TaskGroup("cut_over", prefix_group_id=False,
                       tooltip="action=cutover: gate, fence A, drain, verify, finalize on C"):
            gate = CutoverGateOperator(task_id="cutover_gate", config=CONFIG, execution_timeout=timedelta(minutes=15))
            cutover = CutoverOperator(
                task_id="cutover", config=CONFIG,
                # Fence to ready must stay short; a timeout rolls the fence back. No retry re-fences A by surprise:
                # a failure after the fence raises AirflowFailException, which is not retried.
                execution_timeout=timedelta(hours=2),
            )
            # Beside the cutover, in the triggerer: lifts A's fence within seconds if the cutover dies fenced (a lost
            # worker, an OOM kill), whatever the retry settings (pgshift.migration.switchover.lease says why it
            # cannot unfence a live one).
            watchdog = None if not with_watchdog else FenceWatchdogOperator(
                task_id="fence_watchdog", config=CONFIG, poll_interval=1.0,
                notifiers=json.dumps(deadline_notifiers()), execution_timeout=timedelta(hours=2, minutes=10),
            )

            @task(task_id="publish_migration", outlets=[MIGRATED])
            def publish_migration() -> str:
                """The Asset event "production moved to C", for downstream DAGs, and the record marked cut over, so
                that scheduled validations stop; a dry run does neither."""
                config = run_config()
                if config.dry_run:
                    raise AirflowSkipException("dry run: no migration to announce")
                record = chain_config.marked_cut_over(DAG_ID, chain_config.load_record(DAG_ID, SCHEMAS), config,
                                                      get_current_context()["run_id"])
                chain_config.save_record(DAG_ID, record)
                log.info("Marked the chain cut over in Variable %s: %s", chain_config.variable_key(DAG_ID),
                         record["cut_over"])
                return "migrated"

            publish = publish_migration()
        action >> validate
        action >> gate >> cutover >> publish
        if watchdog:
            gate >> watchdog

        def record_way_back(state: str, task_id: str) -> XComArg:
            @task(task_id=task_id)
            def record() -> str:
                """The chain's record says where the way back stands, so later runs know; a dry run does not."""
                if run_config().dry_run:
                    raise AirflowSkipException("dry run: nothing to record")
                current = chain_config.load_record(DAG_ID, SCHEMAS)
                if current is None:
                    raise AirflowSkipException("no chain record to update")
                run_id = get_current_context()["run_id"]
                chain_config.save_record(DAG_ID, chain_config.marked_way_back(current, state, run_id))
                log.info("Recorded the way back as %r in Variable %s", state, chain_config.variable_key(DAG_ID))
                return state

            return record()

        # The way back (pgshift.migration.switchover.fallback): back to A, or stay on C and drop it.
        with TaskGroup("way_back", prefix_group_id=False, tooltip="action=fallback: back to A (C -> A)"):
            fallback = FallbackOperator(
                task_id="fallback", config=CONFIG,
                # No retry re-fences C by surprise: a failure after C's fence raises AirflowFailException.
                execution_timeout=timedelta(hours=2),
            )
            fell_back = record_way_back("fallen back", "record_fallback")
            # Beside the fallback, as fence_watchdog beside the cutover: lifts C's fence if the fallback dies fenced.
            fallback_watchdog = None if not with_watchdog else FenceWatchdogOperator(
                task_id="fallback_watchdog", config=CONFIG, action="fallback", poll_interval=1.0,
                notifiers=json.dumps(deadline_notifiers()), execution_timeout=timedelta(hours=2, minutes=10),
            )
        with TaskGroup("finishing", prefix_group_id=False,
                       tooltip="action=finish: stay on C, drop the way back and the chain's leftovers"):
            finish = FinishOperator(task_id="finish", config=CONFIG, execution_timeout=timedelta(minutes=10))
            finished = record_way_back("finished", "record_finish")
        fallback >> fell_back
        finish >> finished

        with TaskGroup("setup", prefix_group_id=False,
                       tooltip="action=setup: B from A, the slot on B, roles and schema on C, B -> C"):
            preflight = ChainPreflightOperator(task_id="preflight", config=CONFIG,
                                               execution_timeout=timedelta(minutes=5))
            basebackup = BasebackupOperator(task_id="basebackup_b", config=CONFIG, timeout=12 * 3600,
                                            execution_timeout=timedelta(hours=12))
            wal_lag = WalLagSensor(task_id="wait_wal_lag", config=CONFIG, timeout=3600,
                                   execution_timeout=timedelta(hours=1, minutes=5))
            # B A's synchronous standby with synchronous_standby (pgshift.migration.sync); A untouched without it.
            synchronous = SynchronousStandbyOperator(task_id="synchronous_standby", config=CONFIG,
                                                     execution_timeout=timedelta(minutes=5))
            publication = CreatePublicationOperator(task_id="create_publication", config=CONFIG,
                                                    execution_timeout=timedelta(minutes=5))
            slot = LogicalSlotOperator(task_id="create_logical_slot", config=CONFIG,
                                       execution_timeout=timedelta(minutes=30))
            roles = MigrateRolesOperator(task_id="migrate_roles", config=CONFIG,
                                         execution_timeout=timedelta(minutes=10))
            schema = CopySchemaOperator(task_id="copy_schema_to_c", config=CONFIG, execution_timeout=timedelta(hours=1))

            @task.branch(task_id="choose_mode")
            def choose_mode() -> str:
                """native -> the initial copy (initial_copy=parallel), then the subscription on C; dms -> the DMS
                instance/endpoints/task."""
                return "initial_copy" if run_config().mode == Mode.NATIVE else "dms_replication_instance"

            branch = choose_mode()
            # B frozen while it copies and verifies: bounded by max_copy_pause_seconds; the indexes after the data
            initial_copy = InitialCopyOperator(task_id="initial_copy", config=CONFIG,
                                               execution_timeout=timedelta(hours=36))
            subscription = CreateSubscriptionOperator(task_id="create_subscription", config=CONFIG,
                                                      execution_timeout=timedelta(minutes=10))
            synced = SubscriptionSyncedSensor(
                task_id="wait_subscription_synced", config=CONFIG, poll_interval=1.0, timeout=12 * 3600,
                execution_timeout=timedelta(hours=12, minutes=5),
            )
            # Each DMS wait gives up (with its last status) before its task's execution_timeout would.
            dms_instance = DmsReplicationInstanceOperator(task_id="dms_replication_instance", config=CONFIG,
                                                          wait_seconds=40 * 60, execution_timeout=timedelta(minutes=45))
            dms_endpoints = DmsEndpointsOperator(task_id="dms_endpoints", config=CONFIG,
                                                 execution_timeout=timedelta(minutes=10))
            dms_task = DmsReplicationTaskOperator(
                task_id="dms_task", config=CONFIG,
                instance_arn="{{ ti.xcom_pull(task_ids='dms_replication_instance') }}",
                endpoints="{{ ti.xcom_pull(task_ids='dms_endpoints') }}", wait_seconds=25 * 60,
                execution_timeout=timedelta(minutes=30),
            )
            dms_start = DmsStartTaskOperator(task_id="dms_start_task", config=CONFIG,
                                             task_arn="{{ ti.xcom_pull(task_ids='dms_task') }}",
                                             execution_timeout=timedelta(minutes=10))
            dms_running = DmsTaskRunningSensor(
                task_id="wait_dms_full_load", config=CONFIG, task_arn="{{ ti.xcom_pull(task_ids='dms_task') }}",
                wait_seconds=24 * 3600, execution_timeout=timedelta(hours=24, minutes=5),
            )
            cdc_lag = CdcLagSensor(
                task_id="wait_cdc_lag", config=CONFIG, timeout=3600, trigger_rule="none_failed_min_one_success",
                execution_timeout=timedelta(hours=1, minutes=5),
            )

            @task(task_id="record_configuration")
            def record_configuration() -> dict[str, str]:
                """Last of a setup: the configuration it built the chain with becomes every later run's default."""
                record = chain_config.new_record(DAG_ID, run_config(), get_current_context()["run_id"])
                chain_config.save_record(DAG_ID, record)
                log.info("Recorded the chain's configuration in Variable %s", chain_config.variable_key(DAG_ID))
                return {k: record[k] for k in ("recorded_at", "recorded_by_run")}

            record = record_configuration()

        # A lost (pgshift.migration.promotion): B promoted, B -> C goes on, the record's source becomes B.
        with TaskGroup("a_lost", prefix_group_id=False, tooltip="action=promote_b: A lost, B becomes the source"):
            promote = PromoteBOperator(task_id="promote_b", config=CONFIG, execution_timeout=timedelta(minutes=30))

            @task(task_id="record_source_b")
            def record_source_b() -> str:
                """The chain's record says B is its source (and what was lost with A), so later runs know."""
                current = chain_config.load_record(DAG_ID, SCHEMAS)
                if current is None:
                    raise AirflowSkipException("no chain record to update")
                context = get_current_context()
                promotion = context["ti"].xcom_pull(task_ids="promote_b")
                chain_config.save_record(DAG_ID, chain_config.marked_source_b(current, promotion, context["run_id"]))
                log.info("Recorded B as the chain's source in Variable %s", chain_config.variable_key(DAG_ID))
                if sync_settings.load(DAG_ID) is not None:  # A is lost: the synchronous guard has nothing to watch
                    sync_settings.delete(DAG_ID)
                    log.info("Removed Variable %s: B is no standby of A any more", sync_settings.variable_key(DAG_ID))
                return "b"

            source_b = record_source_b()
        promote >> source_b

        # Every task hangs off choose_action directly, so the branch skips a whole action's tasks at once
        # instead of one dependency level per scheduler loop.
        setup: list[BaseOperator | XComArg] = [
            preflight, basebackup, wal_lag, synchronous, publication, slot, roles, schema, branch, initial_copy,
            subscription, synced, dms_instance, dms_endpoints, dms_task, dms_start, dms_running, cdc_lag, record]
        action >> setup
        action >> [cutover, publish, *([watchdog] if watchdog else [])]
        action >> [fallback, fell_back, finish, finished, *([fallback_watchdog] if fallback_watchdog else [])]
        action >> [promote, source_b]
        ACTION_TASKS.update({"setup": [task_id_of(t) for t in setup],
                             "validate": [validate.task_id],
                             "cutover": [gate.task_id, cutover.task_id, task_id_of(publish),
                                         *([watchdog.task_id] if watchdog else [])],
                             "fallback": [fallback.task_id, task_id_of(fell_back),
                                          *([fallback_watchdog.task_id] if fallback_watchdog else [])],
                             "finish": [finish.task_id, task_id_of(finished)],
                             "promote_b": [promote.task_id, task_id_of(source_b)]})
        preflight >> basebackup >> wal_lag >> synchronous >> publication >> slot >> roles >> schema >> branch
        branch >> initial_copy >> subscription >> synced >> cdc_lag
        branch >> dms_instance >> dms_endpoints >> dms_task >> dms_start >> dms_running >> cdc_lag
        cdc_lag >> record
    return dag


def task_id_of(node: BaseOperator | XComArg) -> str:
    """A task's id, for an operator or a TaskFlow call's output."""
    if isinstance(node, BaseOperator):
        return node.task_id
    if isinstance(node, PlainXComArg):
        return node.operator.task_id
    raise TypeError(f"not a task: {node!r}")


# PGSHIFT_DEADLINE=off exists only for `airflow dags test` (see dag_defaults.deadline_enabled), which also cannot
# run the fence watchdog beside the cutover.
dag = build_dag(with_deadline=deadline_enabled(), with_watchdog=deadline_enabled())
