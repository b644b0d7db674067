"""The preflight of the way back (param ``fallback``, on by default): can the cutover arm reverse replication
C -> A? Read-only, like the chain's checks (:mod:`pgshift.migration.preflight.checks`), and run beside them.

The cutover creates, while nothing can write on C, a publication and a logical slot on C and a subscription on A
that reads C as ``conn_c_subscription``'s role. So, each a finding naming the setting and its value:

- C can publish: ``wal_level = logical`` (on Aurora the cluster parameter ``rds.logical_replication = 1``), a free
  replication slot and a free walsender for A; neither the slot nor the publication is there already.
- A can subscribe: a free logical replication worker (``max_logical_replication_workers``) and background worker
  (``max_worker_processes``: the launcher and the apply worker), a free replication origin
  (``max_active_replication_origins`` from PostgreSQL 18, ``max_replication_slots`` on the subscriber before it);
  conn_a's role, the subscription's owner, may create a subscription (superuser or ``pg_create_subscription``);
  no subscription of that name yet.
- The roles exist both ways: conn_c_subscription is an Airflow connection whose role exists on C, logs in, and
  may stream (REPLICATION, or membership of ``rds_replication`` on Aurora); conn_a's role is A's subscription
  owner (above).

``fallback`` off: nothing is checked, nothing refused (:func:`check_fallback` returns an empty finding).
"""

from __future__ import annotations

from dataclasses import asdict, replace

from pgshift.common.connections import connection_id
from pgshift.migration.config import ChainConfig
from pgshift.migration.preflight.checks import Finding


def check_fallback(spec: ChainConfig, *, database_on_c: bool = True) -> Finding:
    """What :mod:`this module <pgshift.migration.preflight.fallback>` lists, read on C and A.

    ``database_on_c`` False (one of a chain's named databases that the setup will create on C): C is read in
    conn_c's own database (its settings, slots and roles are the server's; the new database has no publication).
    ``facts``: ``c`` (publisher facts), ``a`` (subscriber facts), ``role`` (conn_c_subscription's role on C);
    empty when ``fallback`` is off.
    """
    out = Finding()
    if not spec.fallback:
        return out
    if not database_on_c:
        spec = replace(spec, conn_c=connection_id(spec.conn_c))
    out.problems += _publisher(spec, out)
    out.problems += _subscriber(spec, out)
    return out


def _publisher(spec: ChainConfig, out: Finding) -> list[str]:
    from airflow.sdk import BaseHook

    from pgshift.migration.hooks.target import TargetHook

    problems: list[str] = []
    slot, publication = spec.fallback_subscription_name, spec.fallback_publication_name
    try:
        login = BaseHook.get_connection(connection_id(spec.conn_c_subscription)).login
    except Exception as exc:  # noqa: BLE001 - named, with every other problem
        problems.append(f"conn_c_subscription {spec.conn_c_subscription!r} (A's subscription reads C as it, for "
                        f"the way back) is not an Airflow connection: {exc}".strip())
        login = None
    try:
        with TargetHook(spec.conn_c) as c:
            facts = c.publisher_facts(slot, publication)
            role = c.replication_role(login) if login else None
    except Exception as exc:  # noqa: BLE001 - check_c names the connection problem too
        return [*problems, f"way back: C ({spec.conn_c}) cannot be read: {exc}".strip()]
    out.facts["c"] = asdict(facts)
    if facts.wal_level != "logical":
        if facts.rds_logical_replication is not None:
            how = (f"set rds.logical_replication = 1 in C's DB cluster parameter group (it is "
                   f"{facts.rds_logical_replication}) and reboot C")
        else:
            how = "set wal_level = logical on C and restart it"
        problems.append(f"C runs with wal_level={facts.wal_level}: the way back (fallback on) publishes C's changes "
                        f"to A, which needs wal_level=logical: {how}; or set fallback to false")
    if not facts.slot_exists and facts.max_replication_slots - facts.slots_used < 1:
        problems.append(f"C has max_replication_slots={facts.max_replication_slots} with {facts.slots_used} in use: "
                        f"no room for the way back's slot {slot!r}")
    if facts.max_wal_senders - facts.senders_used < 1:
        problems.append(f"C has max_wal_senders={facts.max_wal_senders} with {facts.senders_used} in use: no "
                        "walsender left for A's subscription (the way back)")
    if facts.slot_exists:
        problems.append(f"a replication slot {slot!r} is already on C: the cutover creates the way back's slot "
                        "(drop the old one, or set another fallback_subscription_name)")
    if facts.publication_exists:
        problems.append(f"a publication {publication!r} is already on C: the cutover creates the way back's "
                        "publication (drop the old one, or set another fallback_publication_name)")
    if facts.max_slot_wal_keep_size == "-1":
        out.warnings.append(f"C has max_slot_wal_keep_size=-1: once the way back is armed, its slot {slot!r} keeps "
                            "C's WAL for as long as A is behind, without bound (validation watches it)")
    if login:
        out.facts["role"] = asdict(role) if role else None
        where = f"role {login!r} (connection {spec.conn_c_subscription}, which A's subscription reads C as)"
        if role is None:
            problems.append(f"{where} does not exist on C: create it there with LOGIN and REPLICATION "
                            "(on Aurora: GRANT rds_replication TO it)")
        elif not (role.rolreplication or role.rolsuper or role.rds_replication):
            problems.append(f"{where} has neither REPLICATION nor rds_replication on C (rolreplication=false): "
                            f"ALTER ROLE {login} REPLICATION, or on Aurora GRANT rds_replication TO {login}")
        elif not role.rolcanlogin:
            problems.append(f"{where} cannot log in on C (rolcanlogin=false)")
    return problems


def _subscriber(spec: ChainConfig, out: Finding) -> list[str]:
    from pgshift.migration.hooks.primary import PrimaryHook

    problems: list[str] = []
    subscription = spec.fallback_subscription_name
    try:
        with PrimaryHook(spec.conn_a) as a:
            facts = a.subscriber_facts(subscription)
    except Exception as exc:  # noqa: BLE001 - check_a names the connection problem too
        return [f"way back: A ({spec.conn_a}) cannot be read: {exc}".strip()]
    out.facts["a"] = asdict(facts)
    others = facts.subscriptions_enabled
    if facts.max_logical_replication_workers < others + 1:
        problems.append(f"A has max_logical_replication_workers={facts.max_logical_replication_workers} with "
                        f"{others} enabled subscription(s): no worker left for the way back's apply (C -> A)")
    if facts.max_worker_processes < others + 2:
        problems.append(f"A has max_worker_processes={facts.max_worker_processes}: the logical replication launcher "
                        f"and the way back's apply worker need 2, plus one per other enabled subscription ({others})")
    if facts.max_active_replication_origins is not None:
        origins, setting = facts.max_active_replication_origins, "max_active_replication_origins"
    else:
        origins, setting = facts.max_replication_slots, "max_replication_slots"
    if origins - facts.origins_used < 1:
        problems.append(f"A has {setting}={origins} with {facts.origins_used} replication origin(s) in use: no "
                        "origin left for the way back's subscription")
    if not (facts.superuser or facts.create_subscription):
        problems.append(f"role {facts.user!r} (connection {spec.conn_a}) would own the way back's subscription on A "
                        "and can not create one: it needs superuser or membership of pg_create_subscription")
    if facts.subscription_exists:
        problems.append(f"a subscription {subscription!r} is already on A: the cutover creates the way back's "
                        "subscription (drop the old one, or set another fallback_subscription_name)")
    return problems
