"""What the hooks read, as frozen dataclasses: one per SQL file that returns rows, fields named and ordered
as its columns, typed with what psycopg2 returns for them (LSNs are cast to text in the SQL).

Values are not converted: ``dataclasses.asdict(state)`` is the row exactly as the server returned it, which
is what a report, an XCom value or a check's details carry.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")

# Attributes pgshift sets on C (see pgshift.migration.access.roles), as RoleSpec field -> keyword; the
# keyword's NO form revokes it.
_SETTABLE = {"login": "LOGIN", "createdb": "CREATEDB", "createrole": "CREATEROLE", "inherit": "INHERIT"}
# Attributes Aurora does not grant: never granted on C, revoked where C has one A lacks.
_NOT_GRANTED = {"superuser": "SUPERUSER", "replication": "REPLICATION", "bypassrls": "BYPASSRLS"}
# The only keywords composed into role_create.sql / role_alter.sql (keywords cannot be bound as parameters).
ATTRIBUTE_KEYWORDS = frozenset(k for kw in (*_SETTABLE.values(), *_NOT_GRANTED.values()) for k in (kw, f"NO{kw}"))



@dataclass(frozen=True)
class RoleState:
    """A role's attributes (``fence_roles_state.sql``, ``role_attributes.sql``)."""

    rolname: str
    rolcanlogin: bool
    rolsuper: bool
    rolreplication: bool
    rolbypassrls: bool


@dataclass(frozen=True)
class TerminatedSession:
    """A session the fence signalled with pg_terminate_backend (``terminate_role_sessions.sql``)."""

    pid: int
    usename: str
    datname: str | None
    signalled: bool


@dataclass(frozen=True)
class OtherSession:
    """A client session on A of a role the fence does not cover (``unfenced_sessions.sql``)."""

    pid: int
    usename: str | None
    database: str | None
    application_name: str | None
    state: str | None
    in_transaction: bool


@dataclass(frozen=True)
class LeaseHolder:
    """The backend holding the fence's advisory lock (``fence_lease_holder.sql``)."""

    pid: int
    application_name: str | None
    backend_start: datetime.datetime | None
    usename: str | None  # its role
    ours: bool  # its role is this session's, pgshift's (any other holder is an impostor: see the lease)


@dataclass(frozen=True)
class EvictedHolder:
    """A session of another role that held the lease's key, signalled to end (``fence_lease_evict.sql``)."""

    pid: int
    usename: str | None
    signalled: bool


@dataclass(frozen=True)
class PublicationState:
    """A publication and what it publishes (``publication_state.sql``)."""

    pubname: str
    all_tables: bool
    schemas: list[str]
    tables: list[str]  # schema.table
    comment: str | None = None


@dataclass(frozen=True)
class PhysicalSlot:
    """A replication slot on A, by name, of any type (``physical_slot.sql``)."""

    slot_name: str
    slot_type: str
    active: bool
    wal_status: str | None


@dataclass(frozen=True)
class WalSender:
    """A's physical slot for B and the walsender using it, if any (``wal_sender_for_slot.sql``)."""

    slot_name: str
    active: bool
    wal_status: str | None
    state: str | None
    application_name: str | None
    current_lsn: str
    replay_lsn: str | None
    lag_bytes: int | None
    replay_lag_s: float | None
    retained_bytes: int | None


@dataclass(frozen=True)
class WalReceiver:
    """B's recovery state and WAL receiver (``wal_receiver_status.sql``); receiver fields are None when
    no receiver runs."""

    in_recovery: bool
    status: str | None
    slot_name: str | None
    sender_host: str | None
    sender_port: int | None
    receive_lsn: str | None
    replay_lsn: str | None
    replay_backlog_bytes: int | None
    since_last_msg_s: float | None


@dataclass(frozen=True)
class ReplayReached:
    """Whether B has replayed a position (``replay_reached.sql``)."""

    reached: bool | None
    replay_lsn: str | None


SlotPosition = Literal["replay", "current"]
"""Where a slot's lag is measured from: ``replay``, what a standby has replayed (B: ``pg_last_wal_replay_lsn()``);
``current``, what a primary has written (C after the cutover: ``pg_current_wal_lsn()``)."""


@dataclass(frozen=True)
class SlotState:
    """A replication slot with its consumer's lag behind this server's position (``logical_slot_state.sql``): B's
    logical slot for C from B's replay position, the way back's slot on C for A from C's current position."""

    slot_name: str
    plugin: str | None
    slot_type: str
    database: str | None
    active: bool
    wal_status: str | None
    safe_wal_size: int | None
    conflicting: bool | None
    invalidation_reason: str | None
    confirmed_flush_lsn: str | None
    position_lsn: str | None  # the server's position the lag is measured from (None: a replay position off a standby)
    lag_bytes: int | None
    retained_bytes: int | None
    confirmed: bool | None = None  # confirmed_flush_lsn >= the LSN asked about (None when none was asked)


@dataclass(frozen=True)
class PublisherFacts:
    """Whether C can publish to A, and the way back's objects already on C (``publisher_facts.sql``)."""

    wal_level: str
    rds_logical_replication: str | None
    max_replication_slots: int
    slots_used: int
    max_wal_senders: int
    senders_used: int
    max_slot_wal_keep_size: str
    slot_exists: bool
    publication_exists: bool


@dataclass(frozen=True)
class SubscriberFacts:
    """Whether A can take the way back's subscription (``subscriber_facts.sql``)."""

    version_num: int
    max_logical_replication_workers: int
    max_worker_processes: int
    max_replication_slots: int
    max_active_replication_origins: int | None  # PostgreSQL 18 and later
    subscriptions_enabled: int
    origins_used: int
    user: str
    superuser: bool
    create_subscription: bool
    subscription_exists: bool


@dataclass(frozen=True)
class ReplicationRole:
    """A role's right to stream logical replication (``replication_role.sql``)."""

    rolname: str
    rolcanlogin: bool
    rolreplication: bool
    rolsuper: bool
    rds_replication: bool


@dataclass(frozen=True)
class TargetRoleRights:
    """What pgshift's role on C holds of what the chain needs there (``target_role_rights.sql``). On Aurora the
    master user has every right here but ``rolsuper``, ``rolbypassrls`` and ``fence_setting``; a role without one
    of the others needs the GRANT :mod:`pgshift.migration.preflight.target_role` names for it (the way back's slot
    is the replication connection's business: :class:`ReplicationRole`)."""

    rolname: str
    rolsuper: bool
    rolcreaterole: bool  # migrates the roles: ALTER ROLE ... CREATEROLE
    rolbypassrls: bool  # not needed: pgshift reads RLS tables as their owner (membership WITH SET)
    create_subscription: bool  # PostgreSQL >= 16, non-superuser: GRANT pg_create_subscription TO ...
    database_create: bool  # CREATE SCHEMA / SUBSCRIPTION / PUBLICATION: GRANT CREATE ON DATABASE ... TO ...
    database_owner: bool  # the fence's ALTER DATABASE ... SET and the marker's COMMENT: ALTER DATABASE ... OWNER TO
    signal_backend: bool  # the fence ends sessions: GRANT pg_signal_backend TO ...
    fence_setting: bool  # the marker may be the setting pgshift.fence; if not, it is kept in the database's comment
    database: str  # C's database (conn_c's)
    read_all_stats: bool  # pg_stat_activity shows other roles' sessions: GRANT pg_monitor TO ...
    aurora: bool  # the server has an rds_superuser role
    rds_superuser: bool  # the role is a member of it
    schemas_without_create: list[str]  # schemas asked about that exist and the role may not create in
    roles_without_admin: list[str]  # roles asked about that exist (not superusers) and the role does not administer


@dataclass(frozen=True)
class CreatedSlot:
    """A logical slot just created (``create_logical_slot.sql``)."""

    slot_name: str
    lsn: str


@dataclass(frozen=True)
class SlotConfirmed:
    """Has B replayed a position, and has a slot's consumer confirmed it (``slot_confirmed.sql``)?
    ``confirmed`` is None when the slot does not exist."""

    replayed: bool | None
    replay_lsn: str | None
    confirmed: bool | None
    confirmed_flush_lsn: str | None


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription (on C; on A for the way back) and its tables' sync states (``subscription_state.sql``)."""

    subname: str
    enabled: bool
    slot_name: str | None
    publications: list[str]
    tables: int
    ready: int
    pending: str | None  # "table (state), ..." of the tables not ready
    apply_error_count: int
    sync_error_count: int
    apply_workers: int


@dataclass(frozen=True)
class ApplyWorker:
    """A subscription's error counters and its apply worker, if one runs (``subscription_apply_worker.sql``); on C,
    or on A for the way back. Times are ISO 8601 UTC text."""

    subname: str
    apply_error_count: int
    sync_error_count: int
    stats_reset: str | None
    apply_worker_pid: int | None
    apply_worker_started: str | None
    apply_worker_age_s: float | None
    received_lsn: str | None
    latest_end_lsn: str | None
    retry_interval_ms: int | None


@dataclass(frozen=True)
class ScopeTable:
    """A table in the migration's scope (``scope_tables.sql``)."""

    schema: str
    table: str
    qname: str  # schema.table, each quoted by the server as it needs
    partition_key: str | None  # pg_get_partkeydef: a partitioned table's key, None for an ordinary one
    replica_identity: str
    has_pk: bool
    has_identity_index: bool
    role_can_select: bool
    row_security: bool  # row-level security enabled: a role subject to it would copy only what policies show


@dataclass(frozen=True)
class CopySource:
    """One table (or leaf partition) the parallel initial copy reads on B (``initial_copy_tables.sql``)."""

    root_schema: str  # the table in scope (the partitioned table, for a leaf partition)
    root_table: str
    schema: str
    table: str
    bytes: int
    estimated_rows: int
    block_size: int
    columns: list[str]  # what COPY carries: not the generated ones, in column order
    builtin_types: bool  # every column's type is built in: binary COPY is safe between B and C


@dataclass(frozen=True)
class SequenceState:
    """A sequence in scope on A, with its last value as text (None: never used) (``sequences_in_scope.sql``)."""

    schema: str
    sequence: str
    last_value: str | None
    start_value: str


@dataclass(frozen=True)
class SequenceValue:
    """A sequence's last value on C as text (None: never used) (``sequence_exists.sql``)."""

    last_value: str | None


@dataclass(frozen=True)
class RelationName:
    """A relation by schema and name (``unlogged_tables_in_scope.sql``, ``materialized_views_in_scope.sql``)."""

    schema: str
    name: str


@dataclass(frozen=True)
class InstalledExtension:
    """An extension installed in a database, with its version (``extensions_installed.sql``)."""

    name: str
    version: str


@dataclass(frozen=True)
class AvailableExtension:
    """An extension a server could install, and the version it has installed if any
    (``extensions_available.sql``)."""

    name: str
    default_version: str | None
    installed_version: str | None


@dataclass(frozen=True)
class Membership:
    """A role's membership in a group with PostgreSQL 16's options, each OR-ed over the grants' grantors
    (``role_specs.sql``). ``grantors`` is what revoking every grant needs; it is not compared."""

    group: str
    admin: bool
    inherit: bool
    set: bool
    grantors: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class RoleSpec:
    """A role as :mod:`pgshift.migration.access.roles` migrates it (``role_specs.sql``). ``verifier`` is the SCRAM or
    md5
    password verifier (a secret, None: no password); ``verifier_known`` is False where pg_authid is not
    readable (Aurora), and ``verifier`` is None then."""

    name: str
    login: bool
    superuser: bool
    createdb: bool
    createrole: bool
    inherit: bool
    replication: bool
    bypassrls: bool
    connection_limit: int
    valid_until: str | None
    verifier: str | None = field(repr=False)
    verifier_known: bool = True
    member_of: tuple[Membership, ...] = ()
    settings: tuple[RoleSetting, ...] = ()  # ALTER ROLE … SET, in every database or in a migrated one


@dataclass(frozen=True)
class DatabaseLocale:
    """A database's encoding and locale (``database_locale.sql``), what C's copy of it is created with."""

    encoding: str
    collate: str
    ctype: str
    provider: str  # libc, icu, builtin
    locale: str | None  # the ICU or builtin locale; None for libc
    icu_rules: str | None = None

    def describe(self) -> str:
        """``encoding UTF8, LC_COLLATE de_DE.UTF-8, LC_CTYPE de_DE.UTF-8, provider libc`` (and the locale)."""
        text = f"encoding {self.encoding}, LC_COLLATE {self.collate}, LC_CTYPE {self.ctype}, provider {self.provider}"
        return text + (f" ({self.locale})" if self.locale and self.provider != "libc" else "")


@dataclass(frozen=True)
class RoleSetting:
    """One ``ALTER ROLE … [IN DATABASE …] SET name = value`` (``role_specs.sql``'s ``settings``)."""

    database: str | None  # IN DATABASE this one (a migrated database); None: in every database
    name: str
    value: str

    @classmethod
    def parse(cls, database: str | None, setting: str) -> RoleSetting:
        """From pg_db_role_setting's ``name=value``."""
        name, _, value = setting.partition("=")
        return cls(database, name, value)

    @property
    def where(self) -> str:
        """``in database shop`` or ``in every database``."""
        return f"in database {self.database}" if self.database else "in every database"


def row_as(cls: type[T], row: dict[str, Any] | None) -> T | None:
    """``cls(**row)``, or None for no row."""
    return None if row is None else cls(**row)


def rows_as(cls: type[T], rows: list[dict[str, Any]]) -> list[T]:
    return [cls(**r) for r in rows]


@dataclass(frozen=True)
class AppProbe:
    """What an application role read and wrote on C in the login proof (``app_probe_*.sql``), rolled back."""

    read_table: str | None  # schema.table read; None: the role may SELECT no table in scope
    write_target: str | None  # schema.table.column rewritten; None: the role may UPDATE nothing in scope
    rows_written: int


@dataclass(frozen=True)
class PromotionPosition:
    """B around its promotion (``promotion_position.sql``): standby or not, what it received and replayed of A's WAL,
    its own position once promoted, and the bytes of A's WAL it had not received (None when A's position is not
    known)."""

    in_recovery: bool
    received_lsn: str | None
    replayed_lsn: str | None
    current_lsn: str | None
    unreceived_bytes: int | None


@dataclass(frozen=True)
class SyncRights:
    """Whether A's role may make B synchronous (``sync_rights.sql``): ALTER SYSTEM on the parameter, the reload."""

    role: str
    alter_system: bool
    reload: bool


@dataclass(frozen=True)
class SyncReading:
    """A as the synchronous guard sees it (``sync_reading.sql``): the names its commits wait for, B's walsender (None
    fields when B has none), B's flush behind A in bytes, and the commits waiting for a standby."""

    names: str
    state: str | None  # streaming, catchup, startup, backup, stopping
    sync_state: str | None  # sync, potential, quorum, async
    reply_age_s: float | None  # since B's last reply
    behind_bytes: int | None
    waiting_commits: int
