"""The chain's configuration: what the last finished setup recorded, merged with a run's conf.

A scheduled run has no conf. Without a record it would check the DAG's defaults, not the chain the
user built. So the last task of a setup (``record_configuration``) stores the configuration it used
in the Airflow Variable ``pgshift_chain_<dag_id>``, and the first task of every run
(``configuration``) merges, per key: DAG param default <- recorded value <- the run's conf.

Recorded (:data:`RECORDED_KEYS`: the fields of :class:`~pgshift.migration.config.ChainConfig` whose metadata says
``recorded``): what says which chain it is and how its health is judged —
connection ids, object names, host B's settings, scope, mode, DMS ids and settings, the lag and WAL
limits, the sensors' poll interval, ``report_dir``, ``accept_large_object_loss`` (a setup that
accepted leaving A's large objects behind must not fail every later validation for them), and which
roles go to C (``extra_roles``, ``exclude_roles``, ``memberships_on_c``: the cutover syncs the same ones), and the
way back (``fallback``, ``fallback_publication_name``, ``fallback_subscription_name``, ``conn_c_subscription``: a
fallback or finish after the cutover uses the names the cutover armed). Ids, names,
paths, numbers and that switch only: the connections' passwords stay in Airflow's connections, never
in the record.

Not recorded: what one run does or how hard it looks — ``action``, ``dry_run``, ``app_roles`` and
``app_role_connections`` (the fence and its proof are decided per cutover), ``gate_*``,
``drain_timeout_seconds``, ``verify_parallelism``, ``parity``, ``parity_sample_rows``, ``chart_runs``,
``slot_create_timeout_seconds``; and the one-off
safety switches ``move_aside_data_dir`` and ``allow_existing_tables_on_c``, which a later setup
must not inherit silently.

Which conf keys override a recorded value:

- ``setup``: every key present in the run's conf. Setup builds what it is told; keys it is not told
  come from the record.
- ``validate``/``cutover``: a key present in the conf whose value differs from the DAG default. The
  UI's trigger form (Airflow 3.3.2) submits every param, so a form left at its defaults would
  otherwise replace the whole record by the defaults. The price: a conf cannot point one of these
  runs back to a default value when the record says otherwise (the log names such keys).

A validate or cutover run that overrides nothing is "the recorded chain": it fails plainly when
nothing is recorded, and once the chain was cut over a validation skips and a cutover fails,
instead of one red run an hour; but while the record says the way back is armed (``fallback``:
``{"armed": true, "state": "armed"}``) a validation checks the reverse direction, C -> A, instead. A run that
overrides a key checks what it is told, record or not.

The Variable (JSON)::

    {"format": 1, "dag_id": ..., "recorded_at": "<ISO UTC>", "recorded_by_run": "<run id>",
     "configuration": {<RECORDED_KEYS>: value}, "cut_over": null | {"at": "<ISO UTC>", "by_run": "<run id>"},
     "fallback": {"armed": bool, "state": "armed" | "fallen back" | "finished" | null, "at": ..., "by_run": ...}}
     (``fallback`` from the cutover on)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

import jsonschema
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pgshift.migration.config import RECORDED_FIELDS, Action, ChainConfig, ConfigError

FORMAT = 1
# Which keys the record keeps is a property of ChainConfig's fields; this tuple (in field order) is derived from it.
RECORDED_KEYS: tuple[str, ...] = tuple(f.name for f in fields(ChainConfig) if f.name in RECORDED_FIELDS)
Source = Literal["default", "recorded", "conf"]


def variable_key(dag_id: str) -> str:
    return f"pgshift_chain_{dag_id}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Effective:
    """One run's configuration: a value and its source per recorded key, and the record it drew on."""

    dag_id: str
    values: dict[str, Any]
    sources: dict[str, Source]
    record: dict[str, Any] | None
    kept_over_conf: list[str]  # conf keys at their DAG default that did not replace a recorded value

    def config(self, params: Mapping[str, object], action: Action | str) -> ChainConfig:
        """The run's :class:`ChainConfig`: its params, the recorded chain's values over them, ``action`` as the run
        performs it. A value that does not fit its field fails the task, naming the key."""
        try:
            source = source_of(self.record) if action != Action.SETUP else "a"  # setup: a new chain, from conn_a
            return ChainConfig.from_values({**params, **self.values, "action": action, "source": source})
        except ConfigError as exc:
            raise AirflowFailException(f"{exc}; nothing was changed") from exc

    @property
    def overridden(self) -> list[str]:
        return [k for k, s in self.sources.items() if s == "conf"]

    def summary(self) -> str:
        variable = variable_key(self.dag_id)
        if self.record:
            text = f"recorded by run {self.record['recorded_by_run']} at {self.record['recorded_at']} " \
                   f"(Variable {variable})"
        else:
            text = f"nothing recorded (no Variable {variable}): DAG defaults"
        if self.overridden:
            text += f"; overridden by this run's conf: {', '.join(self.overridden)}"
        return text

    def as_xcom(self, config: ChainConfig) -> dict[str, Any]:
        """The ``configuration`` task's XCom: ``['config']`` is ``config`` (:meth:`ChainConfig.as_dict`), what every
        operator takes; the rest says where the recorded keys' ``values`` came from, for the reports. It holds
        no secret."""
        record = None
        if self.record:
            record = {k: self.record.get(k) for k in ("recorded_at", "recorded_by_run", "cut_over", "fallback",
                                                 "source", "promote_b")}
        return {"variable": variable_key(self.dag_id), "summary": self.summary(), "record": record,
                "overridden": self.overridden, "kept_over_conf": self.kept_over_conf,
                "values": self.values, "sources": self.sources, "config": config.as_dict()}


def with_databases(config: ChainConfig) -> ChainConfig:
    """``config`` with ``databases ['*']`` listed from A, and a setup's databases checked to exist there
    (:func:`pgshift.migration.databases.resolved_for_run`); a bad one fails the task before anything changes."""
    from pgshift.migration.databases import resolved_for_run

    try:
        return resolved_for_run(config)
    except ConfigError as exc:
        raise AirflowFailException(f"{exc}; nothing was changed") from exc


def merge(dag_id: str, action: str, defaults: Mapping[str, Any], record: Mapping[str, Any] | None,
          conf: Mapping[str, Any]) -> Effective:
    """DAG defaults <- recorded values <- the run's explicit conf keys (see the module docstring)."""
    recorded: Mapping[str, Any] = (record or {}).get("configuration") or {}
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    kept: list[str] = []
    for key in RECORDED_KEYS:
        given = key in conf and (action == "setup" or conf[key] != defaults.get(key))
        if given:
            values[key], sources[key] = conf[key], "conf"
        elif key in recorded:
            values[key], sources[key] = recorded[key], "recorded"
            if key in conf and conf[key] != recorded[key]:
                kept.append(key)
        else:
            values[key], sources[key] = defaults.get(key), "default"
    return Effective(dag_id, values, sources, dict(record) if record else None, kept)


def record_problems(record: object, schemas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What is wrong with a Variable's content (edited by hand, or by another version): each recorded value
    must pass its param's JSON schema, as a value given at trigger time would."""
    if not isinstance(record, dict) or not isinstance(record.get("configuration"), dict):
        return ["it is not an object with a 'configuration' object"]
    problems = []
    for key, value in record["configuration"].items():
        if key in RECORDED_KEYS and key in schemas:
            try:
                jsonschema.validate(value, dict(schemas[key]))
            except jsonschema.ValidationError as exc:
                problems.append(f"{key}: {value!r}: {exc.message}")
    return problems


def fallback_state(record: Mapping[str, Any] | None) -> str | None:
    """The way back as the record says it after a cutover: ``armed``, ``fallen back``, ``finished``, or None
    (no cutover, a cutover without ``fallback``, or a record from before the way back existed)."""
    fallback = (record or {}).get("fallback")
    if not isinstance(fallback, Mapping) or not (record or {}).get("cut_over"):
        return None
    state = fallback.get("state")
    if state == "armed" and not fallback.get("armed"):
        return None
    return str(state) if state in ("armed", "fallen back", "finished") else None


def check_chain(effective: Effective, action: str) -> None:
    """Refuse a validate or cutover of "the recorded chain" when there is none, or when it was cut over.

    After a cutover a validation checks the way back (C -> A) while the record says it is armed; it skips once
    the way back was not armed, is finished, or was taken (production back on A: setup starts a new chain)."""
    if action in ("fallback", "finish"):
        check_way_back(effective, action)
        return
    if action == "promote_b":
        check_promotable(effective)
        return
    if action == "setup" or effective.overridden:
        return
    what = "validate" if action == "validate" else "cut over"
    if not effective.record:
        raise AirflowFailException(
            f"no chain to {what} yet: no setup has finished for {effective.dag_id} "
            f"(Variable {variable_key(effective.dag_id)} is absent); trigger action=setup first")
    cut_over = effective.record.get("cut_over")
    if not cut_over:
        return
    if action != "validate":
        raise AirflowFailException(f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']}; "
                                   "nothing to cut over; run setup for a new chain")
    state = fallback_state(effective.record)
    if state == "armed":
        return  # the validation checks the reverse direction, C -> A
    if state == "fallen back":
        raise AirflowSkipException(
            f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']} and fell back: production "
            "is back on A; nothing to validate; run setup to start a new chain")
    raise AirflowSkipException(f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']}; "
                               "nothing to validate; pause the DAG or run setup for a new chain")


def _recorded(values: ChainConfig | Mapping[str, Any]) -> Mapping[str, Any]:
    return values.recorded_values() if isinstance(values, ChainConfig) else values


def new_record(dag_id: str, values: ChainConfig | Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """A record of the chain ``values`` say (a run's config, or its recorded keys' values)."""
    values = _recorded(values)
    return {"format": FORMAT, "dag_id": dag_id, "recorded_at": _now(), "recorded_by_run": run_id,
            "configuration": {k: values[k] for k in RECORDED_KEYS}, "cut_over": None}


def marked_cut_over(dag_id: str, record: Mapping[str, Any] | None, values: ChainConfig | Mapping[str, Any],
                    run_id: str) -> dict[str, Any]:
    """The record after a real cutover by ``run_id`` with ``values``. A cutover of another chain than the
    recorded one (its conf overrode names) records that chain: it is the one that is gone. ``fallback`` says
    whether the cutover armed the way back (C -> A) and where it stands: ``armed`` -> ``fallen back`` (action
    fallback) or ``finished`` (action finish)."""
    values = _recorded(values)
    # ``fallback`` is setup's choice, recorded with the chain; a cutover deciding otherwise still cuts over that chain.
    chain_keys = [k for k in RECORDED_KEYS if k != "fallback"]
    same = record is not None and {k: (record.get("configuration") or {}).get(k) for k in chain_keys} == \
        {k: values[k] for k in chain_keys}
    out = dict(record) if same and record else new_record(dag_id, values, run_id)
    out["cut_over"] = {"at": _now(), "by_run": run_id}
    armed = bool(values.get("fallback"))
    out["fallback"] = {"armed": armed, "state": "armed" if armed else None}
    return out


WAY_BACK_STATES = ("armed", "fallen back", "finished")


def marked_way_back(record: Mapping[str, Any], state: str, run_id: str) -> dict[str, Any]:
    """The record after a fallback (``fallen back``) or a finish (``finished``) by ``run_id``."""
    if state not in WAY_BACK_STATES:
        raise ValueError(f"not a way-back state: {state!r}")
    out = dict(record)
    out["fallback"] = {**(record.get("fallback") or {"armed": True}), "state": state, "at": _now(), "by_run": run_id}
    return out


def check_way_back(effective: Effective, action: str) -> None:
    """Refuse a fallback or finish of "the recorded chain" unless it was cut over with the way back armed (a finish
    also without: the chain's leftovers remain) and neither fell back nor finished since. A run that overrides keys
    checks what it is told instead."""
    if effective.overridden:
        return
    record = effective.record or {}
    if not record.get("cut_over"):
        raise AirflowFailException(f"no cutover to {action} after: the recorded chain of {effective.dag_id} was not "
                                   "cut over (trigger action=cutover first)")
    way_back = record.get("fallback") or {}
    if not way_back.get("armed"):
        if action == "finish":  # the chain's leftovers are still to drop
            return
        raise AirflowFailException(f"the cutover at {record['cut_over']['at']} did not arm the way back "
                                   f"(fallback was off): nothing to {action}")
    if way_back.get("state") != "armed":
        raise AirflowFailException(f"the way back is {way_back.get('state')} already (at {way_back.get('at')} by run "
                                   f"{way_back.get('by_run')}): nothing to {action}")


def check_promotable(effective: Effective) -> None:
    """Refuse promote_b without a chain set up, or after its cutover (production is on C: B is no source any more).
    A run that overrides keys promotes the chain it names."""
    if effective.overridden:
        return
    if not effective.record:
        raise AirflowFailException(f"no chain to promote B in: no setup has finished for {effective.dag_id} (Variable "
                                   f"{variable_key(effective.dag_id)} is absent); nothing was changed")
    if cut_over := effective.record.get("cut_over"):
        raise AirflowFailException(f"the chain was cut over to C at {cut_over['at']} by run {cut_over['by_run']}: "
                                   "production is on C, B is not the chain's source any more; nothing was changed")


def source_of(record: Mapping[str, Any] | None) -> str:
    """The chain's source: ``a``, or ``b`` once action=promote_b promoted B (A lost)."""
    return "b" if (record or {}).get("source") == "b" else "a"


def marked_source_b(record: Mapping[str, Any], promotion: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The record after action=promote_b by ``run_id``: ``source`` is ``b``; ``promote_b`` keeps the first promotion's
    figures (a retry that found B promoted already knows none)."""
    out = dict(record)
    out["source"] = "b"
    if not (record.get("promote_b") or {}).get("promoted_at"):
        keep = ("promoted_at", "a_reachable", "a_lsn", "b_received_lsn", "b_replayed_lsn", "lost_bytes",
                "b_lsn_after")
        out["promote_b"] = {**{k: promotion.get(k) for k in keep}, "by_run": run_id}
    return out


# -- the Variable, through the Task SDK (these run inside tasks only)
def load_record(dag_id: str, schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The recorded configuration, or None; a Variable that is not a valid record fails the task, no retry."""
    from airflow.sdk import Variable

    key = variable_key(dag_id)
    raw = Variable.get(key, default=None)
    if raw is None:
        return None
    try:
        record: dict[str, Any] = json.loads(raw)
    except ValueError as exc:
        raise AirflowFailException(f"Variable {key} is not JSON ({exc}); delete it and run setup again") from exc
    problems = record_problems(record, schemas)
    if problems:
        raise AirflowFailException(f"Variable {key} is not a valid pgshift chain record: {'; '.join(problems)}; "
                                   "correct it or run setup again")
    return record


def save_record(dag_id: str, record: Mapping[str, Any]) -> None:
    from airflow.sdk import Variable

    Variable.set(variable_key(dag_id), dict(record), description="pgshift: the chain the last finished setup built "
                 "(scheduled validations check it)", serialize_json=True)


def describe(effective: Effective, keys: Iterable[str] = RECORDED_KEYS) -> list[str]:
    """One line per key: value and source, for the log."""
    return [f"{k} = {effective.values[k]!r} ({effective.sources[k]})" for k in keys]
