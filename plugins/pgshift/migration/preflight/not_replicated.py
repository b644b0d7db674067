"""The preflight of what logical replication does not carry to C (large objects, unlogged tables, materialized
views, extensions C lacks), named before any change."""

from __future__ import annotations

from pgshift.common.connections import connection_id
from pgshift.migration.config import ChainConfig
from pgshift.migration.preflight.finding import Finding


def check_not_replicated(spec: ChainConfig, *, database_on_c: bool = True) -> Finding:
    """Objects on A that logical replication will not carry to C, named before any change.

    - Large objects (``pg_largeobject_metadata``, the whole database): a problem with their count, unless
      ``accept_large_object_loss``; then a warning, and ``large_objects_not_migrated`` in the facts, so that
      a report can say they were left behind.
    - Unlogged tables in scope: a problem. Their changes are not WAL-logged, so no publication carries them
      (FOR ALL TABLES and TABLES IN SCHEMA skip them, FOR TABLE refuses them): C would keep an empty table,
      and the cutover would move the application to it with the rows silently left on A. Make them logged
      (``ALTER TABLE … SET LOGGED``) or take them out of scope.
    - Materialized views in the migrated schemas: a warning. The schema copy creates them on C, unpopulated;
      they have to be refreshed on C after the data.
    - Extensions installed on A (but plpgsql): one C can neither install nor has is a problem (the schema
      copy, or the objects using it, would fail); another version on C (installed, else its default) a
      warning naming both.

    ``database_on_c`` False: the database is created on C by the setup; C's extensions are read in conn_c's own.
    ``facts``: ``large_objects``, ``large_objects_not_migrated``, ``unlogged_tables`` and
    ``materialized_views`` (``schema.name``), ``extensions`` (name -> ``a``, ``c_installed``, ``c_default``
    versions). A or C unreadable: only what could be read (check_a and check_c name the connection problem).
    """
    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.hooks.target import TargetHook
    from pgshift.migration.scope import Scope

    out = Finding()
    scope = Scope.from_params(spec.schemas, spec.tables)
    try:
        with PrimaryHook(spec.conn_a) as a:
            large_objects = a.large_object_count()
            unlogged = [f"{r.schema}.{r.name}" for r in a.unlogged_tables(scope)]
            matviews = [f"{r.schema}.{r.name}" for r in a.materialized_views(scope)]
            on_a = {e.name: e.version for e in a.extensions()}
    except Exception:  # noqa: BLE001 - check_a reports that A cannot be read
        return out
    lost = bool(large_objects) and spec.accept_large_object_loss
    if large_objects and not lost:
        out.problems.append(f"A has {large_objects} large object(s); logical replication does not carry them, so "
                            "they would not reach C: move them into bytea columns first, or set "
                            "accept_large_object_loss to migrate without them")
    elif lost:
        out.warnings.append(f"A has {large_objects} large object(s); they are not migrated "
                            "(accept_large_object_loss): C will not have them")
    if unlogged:
        out.problems.append(f"unlogged table(s) in scope: {', '.join(unlogged)}: logical replication does not "
                            "publish them, so their rows would not reach C (ALTER TABLE … SET LOGGED, or leave "
                            "them out of scope)")
    if matviews:
        out.warnings.append(f"materialized view(s) not replicated: {', '.join(matviews)}: they are created on C "
                            "without data, to be refreshed there after the data")
    extensions: dict[str, dict[str, str | None]] = {}
    try:
        # A database the setup creates on C has no extension yet: what C has available is read in conn_c's own.
        with TargetHook(spec.conn_c if database_on_c else connection_id(spec.conn_c)) as c:
            on_c = {e.name: e for e in c.extensions_available(sorted(on_a))} if on_a else {}
    except Exception:  # noqa: BLE001 - check_c reports that C cannot be read
        on_a, on_c = {}, {}
    for name, version in on_a.items():
        got = on_c.get(name)
        extensions[name] = {"a": version, "c_installed": got.installed_version if got else None,
                            "c_default": got.default_version if got else None}
        if got is None:
            out.problems.append(f"extension {name} {version} is installed on A, and C has no such extension "
                                "(not in pg_available_extensions)")
            continue
        c_version = got.installed_version or got.default_version
        if c_version != version:
            where = "installed" if got.installed_version else "available (default)"
            out.warnings.append(f"extension {name} is version {version} on A and {c_version} on C ({where})")
    out.facts = {"large_objects": large_objects, "large_objects_not_migrated": lost, "unlogged_tables": unlogged,
                 "materialized_views": matviews, "extensions": extensions}
    return out
