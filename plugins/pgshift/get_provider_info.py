"""What Airflow's ProvidersManager reads through the ``apache_airflow_provider`` entry point.

It follows ``airflow/provider_info.schema.json`` (a test validates it). pgshift's hooks read the standard
``postgres``, ``ssh`` and ``aws`` connections of the providers it depends on; its one connection type of
its own is ``citus`` (a Citus coordinator, read by :class:`pgshift.hooks.citus.CitusHook`).
"""

from __future__ import annotations

from typing import Any

from pgshift import __version__

POSTGRES = "pgshift: PostgreSQL migration"
CITUS = "pgshift: Citus scale-out"
DMS = "pgshift: AWS DMS"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-pgshift",
        "name": "pgshift",
        "description": "On-prem PostgreSQL -> hot standby -> Aurora migration (native logical replication or "
                       "AWS DMS) with a lag-gated, verified, reversible cutover; Citus worker scale-out.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": POSTGRES, "tags": ["software"],
             "external-doc-url": "https://www.postgresql.org/docs/current/logical-replication.html"},
            {"integration-name": CITUS, "external-doc-url": "https://docs.citusdata.com/", "tags": ["software"]},
            {"integration-name": DMS, "external-doc-url": "https://docs.aws.amazon.com/dms/", "tags": ["aws"]},
        ],
        "hooks": [
            {"integration-name": POSTGRES, "python-modules": [
                "pgshift.hooks.postgres", "pgshift.hooks.primary", "pgshift.hooks.standby", "pgshift.hooks.target",
                "pgshift.hooks.states", "pgshift.hooks.host", "pgshift.hooks.fallback"]},
            {"integration-name": CITUS, "python-modules": ["pgshift.hooks.citus"]},
            {"integration-name": DMS, "python-modules": ["pgshift.hooks.dms"]},
        ],
        "connection-types": [
            {"connection-type": "citus", "hook-class-name": "pgshift.hooks.citus.CitusHook",
             "hook-name": "Citus coordinator (pgshift)"},
        ],
        "operators": [
            {"integration-name": POSTGRES, "python-modules": [
                "pgshift.operators.chain", "pgshift.operators.preflight", "pgshift.operators.basebackup",
                "pgshift.operators.slot",
                "pgshift.operators.publication", "pgshift.operators.roles", "pgshift.operators.schema",
                "pgshift.operators.subscription",
                "pgshift.operators.cutover", "pgshift.operators.fence_watchdog", "pgshift.operators.validate",
                "pgshift.operators.fallback", "pgshift.operators.initial_copy", "pgshift.operators.promote_b",
                "pgshift.operators.synchronous"]},
            {"integration-name": DMS, "python-modules": ["pgshift.operators.dms"]},
            {"integration-name": CITUS, "python-modules": ["pgshift.operators.citus", "pgshift.operators.citus_clone",
                                                           "pgshift.operators.citus_clone_preflight"]},
        ],
        "sensors": [
            {"integration-name": POSTGRES, "python-modules": ["pgshift.sensors.poll", "pgshift.sensors.replication"]},
            {"integration-name": CITUS, "python-modules": ["pgshift.sensors.citus"]},
        ],
        "triggers": [
            {"integration-name": POSTGRES,
             "python-modules": ["pgshift.triggers.poll", "pgshift.triggers.fence_watchdog",
                                "pgshift.triggers.sync_guard"]},
            {"integration-name": DMS, "python-modules": ["pgshift.triggers.dms"]},
        ],
        "notifications": ["pgshift.notifications.deadline.DeadlineMissedNotifier"],
        "config": {
            "pgshift": {
                "description": "pgshift's deployment-wide settings.",
                "options": {
                    "deadline_seconds": {
                        "description": "Overrides the DAGs' deadline (seconds from queued to finished); empty keeps "
                                       "each DAG's own (24 h for hybrid_aurora_migration).",
                        "version_added": "0.2.0", "type": "string", "example": "7200", "default": "",
                    },
                    "deadline_notifiers": {
                        "description": "JSON list of BaseNotifier specs an overrun (and a fence alert) is forwarded "
                                       "to, e.g. [{\"notifier\": \"mod.Notifier\", \"kwargs\": {...}}]; validated "
                                       "when the DAG file is parsed.",
                        "version_added": "0.2.0", "type": "string", "example": "[]", "default": "[]",
                    },
                },
            },
        },
    }
