"""The chain's configuration, typed once: :class:`ChainConfig`, one field per Param of ``hybrid_aurora_migration``.

Built by the DAG's ``configuration`` task (the recorded chain under the run's conf,
:mod:`pgshift.migration.configuration`), carried in its XCom as :meth:`ChainConfig.as_dict` (JSON), and handed to
every operator as one templated value that :meth:`ChainConfig.from_values` turns back into this class: the one place
where a value is converted and checked.
Every setting an operator uses is a field read under its Param's name (``config.wal_lag_max_bytes``) or a method
that derives a part from those fields (:meth:`ChainConfig.limits`, :meth:`ChainConfig.thresholds`,
:attr:`ChainConfig.slot_plugin`, and :meth:`pgshift.migration.checks.gate.GateSpec.of` for the gate). It imports no
other module of the package but :mod:`pgshift.common.connections` (standard library only), so that every part may
import it.

Which keys the chain's record keeps is a property of each field (``recorded=True`` in its metadata); the record's
rules are in :mod:`pgshift.migration.configuration`. ``tests/test_chain_config.py`` holds the fields and the DAG's
Params together: the same names, and agreeing types and enums.

This module is imported when the DAG file is parsed: standard library only at import time.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pgshift.common.connections import in_database

if TYPE_CHECKING:
    from pgshift.migration.limits import ChainLimits


class Action(StrEnum):
    VALIDATE = "validate"
    SETUP = "setup"
    CUTOVER = "cutover"
    FALLBACK = "fallback"
    FINISH = "finish"
    PROMOTE_B = "promote_b"  # A lost: B becomes the source (pgshift.migration.promotion)


class Source(StrEnum):
    """The chain's source: the primary the cutover fences and the way back returns to."""

    A = "a"  # A, with B its hot standby
    B = "b"  # A lost: B, promoted by action=promote_b (pgshift.migration.promotion)


class Mode(StrEnum):
    NATIVE = "native"  # publication/subscription from B
    DMS = "dms"  # AWS DMS full load + CDC from B's slot


class Verify(StrEnum):
    DELTA = "delta"  # B against C before the fence, then the rows written since inside it
    FULL = "full"  # every table hashed on A and C inside the fence


class InitialCopy(StrEnum):
    """How C gets the rows that exist when the chain is set up (:mod:`pgshift.migration.setup.initial_copy`)."""

    SUBSCRIPTION = "subscription"  # CREATE SUBSCRIPTION ... copy_data = true: a table-sync worker per table
    PARALLEL = "parallel"  # B frozen at L, block ranges copied in parallel, verified at L, the slot moved to L


class Parity(StrEnum):
    SAMPLE = "sample"
    FULL = "full"
    OFF = "off"


class Ddl(StrEnum):
    """What validation does with A's schema changes C lacks (:mod:`pgshift.migration.schema.heal`)."""

    REPORT = "report"  # name each difference and its statement, run nothing
    APPLY_ADDITIVE = "apply_additive"  # also run the additive ones on C (native mode)


class DmsSslMode(StrEnum):
    NONE = "none"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


class DmsLobMode(StrEnum):
    LIMITED = "limited"  # LOBs up to dms_lob_max_size_kb, loaded in bulk; longer ones truncated (AWS's advice)
    FULL = "full"  # every LOB whatever its size, in dms_lob_chunk_size_kb pieces, one at a time
    INLINE = "inline"  # full LOB mode, with LOBs up to dms_inline_lob_max_size_kb sent inline


# DMS's ranges (AWS DMS user guide: MaxFullLoadSubTasks 1-49, LOB sizes up to 102400 KB).
DMS_RANGES: Mapping[str, tuple[int, int]] = {
    "dms_max_full_load_subtasks": (1, 49), "dms_lob_max_size_kb": (1, 102400),
    "dms_lob_chunk_size_kb": (1, 102400), "dms_inline_lob_max_size_kb": (1, 102400)}


# The logical decoding plugin of the slot on B, per mode: DMS does not accept pgoutput.
SLOT_PLUGINS: Mapping[Mode, str] = {Mode.NATIVE: "pgoutput", Mode.DMS: "test_decoding"}


# The metadata of a field the chain's record keeps (see pgshift.migration.configuration).
RECORDED: Mapping[str, bool] = {"recorded": True}
# The metadata of the one field that is no Param: the chain's record says it (ChainConfig.source).
FROM_RECORD: Mapping[str, bool] = {"param": False}


# databases: ['*'] is every database of A that is not a template and allows connections, resolved at setup.
ALL_DATABASES = "*"
DATABASE_NAME_MAX = 40  # so that "<slot name>_<database>" stays a valid slot name for the default names
DATABASE_NAME = re.compile(rf"^[a-z_][a-z0-9_]{{0,{DATABASE_NAME_MAX - 1}}}$")
NAME_MAX = 63  # PostgreSQL's identifiers and slot names
# The connections that reach a database (qualified per database), and the names each database has its own of.
DATABASE_CONNECTIONS = ("conn_a", "conn_b", "conn_b_subscription", "conn_c", "conn_c_subscription")
PER_DATABASE_NAMES = ("publication_name", "slot_name", "subscription_name", "fallback_publication_name",
                      "fallback_subscription_name")
PER_DATABASE_DMS_IDS = ("dms_task_id", "dms_source_endpoint_id", "dms_target_endpoint_id")


class ConfigError(ValueError):
    """Values that do not make a :class:`ChainConfig`; the message names each bad key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid chain configuration: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ChainConfig:
    """One run's configuration: every Param of ``hybrid_aurora_migration``, typed, under its own name.

    The Params' descriptions (``dags/hybrid_aurora_migration.py``) say what each one means; ``action`` is the
    action the run performs (a scheduled run validates whatever its param says). One field is no Param: ``source``,
    which the chain's record says (:meth:`with_source`).
    """

    action: Action
    mode: Mode = field(metadata=RECORDED)
    # -- connections (Airflow connection ids)
    conn_a: str = field(metadata=RECORDED)
    conn_a_replication: str = field(metadata=RECORDED)
    conn_b: str = field(metadata=RECORDED)
    conn_b_subscription: str = field(metadata=RECORDED)
    conn_c: str = field(metadata=RECORDED)
    ssh_conn_id: str | None = field(metadata=RECORDED)
    aws_conn_id: str = field(metadata=RECORDED)
    # -- what to migrate
    databases: tuple[str, ...] = field(metadata=RECORDED)  # empty: the one conn_a names (see database_chains)
    schemas: tuple[str, ...] = field(metadata=RECORDED)
    tables: tuple[str, ...] = field(metadata=RECORDED)
    # -- names
    publication_name: str = field(metadata=RECORDED)
    physical_slot_name: str = field(metadata=RECORDED)
    slot_name: str = field(metadata=RECORDED)
    subscription_name: str = field(metadata=RECORDED)
    # -- host B
    b_data_dir: str = field(metadata=RECORDED)
    b_bin_dir: str = field(metadata=RECORDED)
    b_port: int = field(metadata=RECORDED)
    b_os_user: str | None = field(metadata=RECORDED)
    b_start_command: str | None = field(metadata=RECORDED)
    move_aside_data_dir: bool
    # -- safety
    allow_existing_tables_on_c: bool
    accept_large_object_loss: bool = field(metadata=RECORDED)
    # -- thresholds
    wal_lag_max_bytes: int = field(metadata=RECORDED)
    wal_lag_max_seconds: float = field(metadata=RECORDED)
    cdc_lag_max_bytes: int = field(metadata=RECORDED)
    poll_interval_seconds: float = field(metadata=RECORDED)
    slot_create_timeout_seconds: int
    # -- cutover
    app_roles: tuple[str, ...]
    app_role_connections: Mapping[str, str]
    # roles on C
    extra_roles: tuple[str, ...] = field(metadata=RECORDED)
    exclude_roles: tuple[str, ...] = field(metadata=RECORDED)
    memberships_on_c: Mapping[str, tuple[str, ...]] = field(metadata=RECORDED)
    dry_run: bool
    gate_readings: int
    gate_interval_seconds: float
    gate_window_seconds: float
    drain_timeout_seconds: float
    verify: Verify
    max_write_downtime_seconds: float
    verify_parallelism: int
    # -- validation
    parity: Parity
    parity_sample_rows: int
    max_replay_pause_seconds: int
    max_retained_wal_bytes: int = field(metadata=RECORDED)
    min_safe_wal_bytes: int = field(metadata=RECORDED)
    chart_runs: int
    report_dir: str | None = field(metadata=RECORDED)
    # -- the way back
    fallback: bool = field(metadata=RECORDED)
    fallback_publication_name: str = field(metadata=RECORDED)
    fallback_subscription_name: str = field(metadata=RECORDED)
    conn_c_subscription: str = field(metadata=RECORDED)
    # -- DMS
    dms_replication_instance_id: str = field(metadata=RECORDED)
    dms_instance_class: str = field(metadata=RECORDED)
    dms_engine_version: str = field(metadata=RECORDED)
    dms_task_id: str = field(metadata=RECORDED)
    dms_source_endpoint_id: str = field(metadata=RECORDED)
    dms_target_endpoint_id: str = field(metadata=RECORDED)
    dms_ssl_mode: DmsSslMode = field(metadata=RECORDED)
    dms_max_full_load_subtasks: int
    dms_parallel_load_partitions: tuple[str, ...]
    dms_parallel_load_ranges: Mapping[str, Mapping[str, tuple[str, ...]]]
    dms_lob_mode: DmsLobMode
    dms_lob_max_size_kb: int
    dms_lob_chunk_size_kb: int
    dms_inline_lob_max_size_kb: int
    # -- A lost (action=promote_b)
    confirm_promote_b: bool
    # B a synchronous standby of A while the chain runs (pgshift.migration.sync): losing A loses no acknowledged commit
    synchronous_standby: bool = field(metadata=RECORDED)
    synchronous_fallback_seconds: float = field(metadata=RECORDED)
    # -- schema changes on A (issue 24)
    ddl: Ddl
    # -- the initial copy (issue 25)
    initial_copy: InitialCopy
    copy_workers: int
    max_copy_pause_seconds: int
    # -- no Param: the record's word (``source``: b once action=promote_b promoted B), set by the configuration task
    # for every action but setup (a new chain starts from the conn_a it is given); see :meth:`with_source`
    source: Source = field(default=Source.A, metadata=FROM_RECORD)

    # -- one conversion point
    @classmethod
    def from_values(cls, values: ChainConfig | Mapping[str, object] | str) -> ChainConfig:
        """From the Params' values by name (a run's params, the ``configuration`` task's XCom after rendering, or
        :meth:`as_dict`); a ChainConfig is returned as it is. Raises :class:`ConfigError` naming every missing,
        unknown or ill-typed key. Bounds and patterns are the Params' schemas' business (checked at trigger time
        and on the record); a JSON list becomes a tuple, an enum's text its member."""
        if isinstance(values, ChainConfig):
            return values
        if not isinstance(values, Mapping):
            raise ConfigError([f"expected a mapping of param names to values, got {type(values).__name__}: "
                               f"{str(values)[:200]!r} (is the template rendered as a native object?)"])
        hints = _hints()
        problems: list[str] = []
        optional = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        missing = [name for name in hints if name not in values and name not in optional]
        if missing:
            problems.append(f"missing: {', '.join(missing)}")
        unknown = sorted(str(k) for k in values if k not in hints)
        if unknown:
            problems.append(f"unknown: {', '.join(unknown)}")
        converted: dict[str, object] = {}
        for name, kind in hints.items():
            if name in values:
                try:
                    converted[name] = _convert(values[name], kind)
                except (TypeError, ValueError) as exc:
                    problems.append(f"{name}: {exc}")
        if problems:
            raise ConfigError(problems)
        config = cls(**converted)  # type: ignore[arg-type]
        if problems := config.database_problems() + config.dms_problems():
            raise ConfigError(problems)
        return config

    # -- several databases
    def database_problems(self) -> list[str]:
        """What is wrong with ``databases``, each naming the key: a name PostgreSQL or pgshift's derived names
        cannot take, ``*`` beside names, a name twice, a derived object name longer than PostgreSQL allows."""
        if ALL_DATABASES in self.databases:
            return [] if self.databases == (ALL_DATABASES,) else [
                f"databases: {ALL_DATABASES!r} (every database of A) stands alone, got {list(self.databases)}"]
        problems = [f"databases: {name!r} is not a database name pgshift takes: 1 to {DATABASE_NAME_MAX} "
                    "lower-case letters, digits and underscores, not starting with a digit"
                    for name in self.databases if not DATABASE_NAME.match(name)]
        problems += [f"databases: {name!r} is listed twice" for name in sorted(set(self.databases))
                     if self.databases.count(name) > 1]
        if problems:
            return problems
        for chain in self.database_chains()[1:]:
            problems += [f"databases: {chain.databases[0]!r} makes the {key} {getattr(chain, key)!r}, longer than "
                         f"{NAME_MAX} characters: shorten {key}" for key in PER_DATABASE_NAMES
                         if len(getattr(chain, key)) > NAME_MAX]
        return problems

    @property
    def several_databases(self) -> bool:
        """Whether the chain names its databases (``databases`` not empty): its connections are then qualified."""
        return bool(self.databases)

    def database_chains(self) -> list[ChainConfig]:
        """One configuration per database of the chain, in ``databases``' order, each with the connection ids and
        object names of that database (:meth:`in_database`); ``[self]`` when ``databases`` is empty (the database
        ``conn_a`` names, with the names as given). ``*`` must have been resolved first
        (:func:`pgshift.migration.databases.resolve_databases`)."""
        if ALL_DATABASES in self.databases:
            raise ValueError("databases ['*'] is not resolved: resolve_databases() lists A's databases first")
        if not self.databases:
            return [self]
        return [self.in_database(name, first=i == 0) for i, name in enumerate(self.databases)]

    def in_database(self, database: str, *, first: bool) -> ChainConfig:
        """This chain's part in ``database``: every connection that reaches a database (A, B, C, the subscribers)
        qualified with it (``pg_a/orders``, :mod:`pgshift.common.hooks.postgres`), ``databases`` just it, and the
        per-database object names: the first database keeps the names as given, each other one gets
        ``_<database>`` after them (``-<database>`` after the DMS ids, ``_`` written ``-``), because slots and
        DMS ids are one namespace per server or account. B's physical slot and the replication connection are the
        server's, not a database's: unchanged."""
        def named(name: str) -> str:
            return name if first else f"{name}_{database}"

        def dms(name: str) -> str:
            return name if first else f"{name}-{database.replace('_', '-')}"

        conns = {key: in_database(getattr(self, key), database) for key in DATABASE_CONNECTIONS}
        names = {key: named(getattr(self, key)) for key in PER_DATABASE_NAMES}
        dms_ids = {key: dms(getattr(self, key)) for key in PER_DATABASE_DMS_IDS}
        return dataclasses.replace(self, databases=(database,), **conns, **names, **dms_ids)  # type: ignore[arg-type]

    @property
    def database(self) -> str | None:
        """The one database this configuration is about (a part :meth:`database_chains` made), else None."""
        return self.databases[0] if len(self.databases) == 1 else None

    def dms_problems(self) -> list[str]:
        """What DMS would refuse (or do other than meant) in the DMS task settings, each naming its key: checked
        here so that a bad value stops the run at its ``configuration`` task, before anything is created."""
        problems = [f"{key}: must be from {low} to {high}, got {getattr(self, key)}"
                    for key, (low, high) in DMS_RANGES.items() if not low <= getattr(self, key) <= high]
        listed = {"dms_parallel_load_partitions": list(self.dms_parallel_load_partitions),
                  "dms_parallel_load_ranges": list(self.dms_parallel_load_ranges)}
        for key, names in listed.items():
            for name in names:
                schema, dot, table = name.partition(".")
                if not (dot and schema and table):
                    problems.append(f"{key}: {name!r} is not schema.table")
                elif (self.tables or self.schemas) and name not in self.tables and schema not in self.schemas:
                    problems.append(f"{key}: {name} is not among the tables to migrate (tables, schemas)")
        both = set(listed["dms_parallel_load_partitions"]) & set(listed["dms_parallel_load_ranges"])
        problems += [f"dms_parallel_load_ranges: {name} is also in dms_parallel_load_partitions (one way a table)"
                     for name in sorted(both)]
        for name, columns in self.dms_parallel_load_ranges.items():
            counts = {len(bounds) for bounds in columns.values()}
            if not columns or 0 in counts or len(counts) > 1:
                problems.append(f"dms_parallel_load_ranges: {name} needs one or more columns, each with the same "
                                f"number (at least one) of boundaries, got {dict(columns)}")
        return problems

    def as_dict(self) -> dict[str, object]:
        """JSON-native values by Param name (lists for tuples, text for enums): the XCom, and the record's
        values."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def recorded_values(self) -> dict[str, object]:
        """The values the chain's record keeps (:data:`pgshift.migration.configuration.RECORDED_KEYS`), JSON-native."""
        return {k: v for k, v in self.as_dict().items() if k in RECORDED_FIELDS}

    # -- the parts, derived under the Params' names
    def limits(self) -> ChainLimits:
        """How the gate and the sensors judge the chain's health."""
        from pgshift.migration.limits import ChainLimits

        return ChainLimits(wal_lag_max_bytes=self.wal_lag_max_bytes, wal_lag_max_seconds=self.wal_lag_max_seconds,
                           cdc_lag_max_bytes=self.cdc_lag_max_bytes, poll_interval_seconds=self.poll_interval_seconds)

    def thresholds(self) -> dict[str, float]:
        """The numbers preflight requires to be greater than zero, by Param name."""
        return {"wal_lag_max_bytes": self.wal_lag_max_bytes, "wal_lag_max_seconds": self.wal_lag_max_seconds,
                "cdc_lag_max_bytes": self.cdc_lag_max_bytes, "poll_interval_seconds": self.poll_interval_seconds,
                "slot_create_timeout_seconds": self.slot_create_timeout_seconds,
                "synchronous_fallback_seconds": self.synchronous_fallback_seconds}

    @property
    def slot_plugin(self) -> str:
        """The logical decoding plugin of the slot on B for this mode."""
        return SLOT_PLUGINS[self.mode]

    @property
    def parallel_copy(self) -> bool:
        """Whether setup copies C's rows itself (``initial_copy`` parallel, native mode: DMS loads tables itself)."""
        return self.initial_copy == InitialCopy.PARALLEL and self.mode == Mode.NATIVE

    def with_source(self) -> ChainConfig:
        """The chain as the operators act on it. Once B was promoted (``source`` b: A lost, action=promote_b), B
        stands in A's place: ``conn_a`` is B's connection, so the gate, the cutover (fencing B, draining and verifying
        B's own WAL), the fence watchdog, the way back (C -> B) and finish work on B; and ``verify`` is ``full``:
        verify=delta compares at frozen points of B's replay of A, which a promoted B no longer has, so every table is
        hashed on B and C inside the fence instead (a longer write downtime, reported). Itself while A is the
        source."""
        if self.source == Source.A:
            return self
        return dataclasses.replace(self, conn_a=self.conn_b, verify=Verify.FULL)

    def for_validation(self) -> ChainConfig:
        """Validation runs on a chain that exists: tables on C are expected there."""
        return dataclasses.replace(self, allow_existing_tables_on_c=True)


RECORDED_FIELDS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(ChainConfig)
                                            if f.metadata.get("recorded"))


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(ChainConfig)


def _jsonable(value: object) -> object:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _convert(value: object, kind: Any) -> object:
    """``value`` as ``kind`` (one of the annotations ChainConfig uses), or TypeError/ValueError saying why not."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is types.UnionType:  # X | None
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner)
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        try:
            return kind(value)  # type: ignore[arg-type]  # a wrong value is the ValueError below
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise ValueError(f"must be one of {allowed}, got {value!r}") from None
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    if origin is tuple:  # tuple[X, ...]
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {value!r}")
        return tuple(_convert(v, args[0]) for v in value)
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {value!r}")
        return {_convert(k, args[0]): _convert(v, args[1]) for k, v in value.items()}
    raise TypeError(f"no conversion to {kind!r}")  # a new field type needs a case above
