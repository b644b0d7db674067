"""What the setup made of A's synchronous replication, kept where every worker and the triggerer see it: the Airflow
Variable ``pgshift_sync_<dag_id>`` (JSON), written by the setup's ``synchronous_standby`` task as soon as it sets A,
read by the guard and by ``finish``, removed by ``finish``.

Why its own Variable and not the chain's record: the record is written at the end of a setup, and the guard must know
from the moment A's commits wait for B. Standard library only at import time (the guard's DAG file imports it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


def variable_key(dag_id: str) -> str:
    return f"pgshift_sync_{dag_id}"


def standby_names(application_name: str) -> str:
    """synchronous_standby_names naming one standby, quoted as PostgreSQL parses the list (an identifier)."""
    return '"' + application_name.replace('"', '""') + '"'


@dataclass(frozen=True)
class SyncSettings:
    """A's synchronous replication as the setup set it."""

    conn_a: str  # the Airflow connection to A (a role that may ALTER SYSTEM the parameter and reload)
    standby: str  # the application_name of B's WAL receiver
    names: str  # synchronous_standby_names while the chain is synchronous (standby_names(standby))
    previous: str  # A's value before the setup: restored by finish, and set by the guard to fall back
    fallback_seconds: float  # synchronous_fallback_seconds
    set_by_run: str = ""

    def as_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | dict[str, Any]) -> SyncSettings:
        values = json.loads(raw) if isinstance(raw, str) else raw
        return cls(conn_a=str(values["conn_a"]), standby=str(values["standby"]), names=str(values["names"]),
                   previous=str(values["previous"]), fallback_seconds=float(values["fallback_seconds"]),
                   set_by_run=str(values.get("set_by_run", "")))


# -- the Variable, through the Task SDK (inside a task or a trigger)
def load(dag_id: str) -> SyncSettings | None:
    from airflow.sdk import Variable

    raw = Variable.get(variable_key(dag_id), default=None)
    return None if raw is None else SyncSettings.from_json(raw)


def save(dag_id: str, settings: SyncSettings) -> None:
    from airflow.sdk import Variable

    Variable.set(variable_key(dag_id), settings.as_json(),
                 description="pgshift: B is a synchronous standby of A (the guard reads this; finish removes it)")


def delete(dag_id: str) -> None:
    from airflow.sdk import Variable

    Variable.delete(variable_key(dag_id))
