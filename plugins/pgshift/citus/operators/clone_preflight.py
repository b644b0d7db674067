"""citus_scale_out's preflight for the clone method: every new node, its source worker, and the new host.

Read-only. What Citus itself would only find out late, after pg_promote() (an unknown strategy, F_10), is
checked here too (by the coordinator's checks); a node left half-promoted by such a failure is explained,
with the way out.
"""

from __future__ import annotations

from typing import Any

from pgshift.citus.clone import data_dir_for, slot_name
from pgshift.citus.operators.base import CitusBaseOperator, pretty_bytes
from pgshift.citus.params import Worker, parse_clone_specs
from pgshift.common.hooks.host import HostB

HEADROOM = 1.2  # the copy, plus WAL written while it is taken


def half_promoted(clone: str, source: str) -> str:
    return (f"{clone} is registered as an inactive clone of {source} but is no standby any more (out of recovery): "
            "a promotion failed after pg_promote() (Citus resolves the strategy only then, transcript F_10). Way out: "
            f"SELECT citus_remove_clone_node('{clone.rsplit(':', 1)[0]}', {clone.rsplit(':', 1)[1]}) on the "
            "coordinator, stop that server and empty its data directory, then run the DAG again (a fresh basebackup)")


def check_clones(op: CitusBaseOperator, inputs: dict[str, Any], coordinator: dict[str, Any],
                 by_node: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Read-only checks of every new node and its source worker; problems go to ``by_node``. Returns one
    record per clone: where it is, its source, slot, data directory and ``state`` (``build``: an empty data
    directory to fill; ``streaming``: a standby of the source already; ``registered``: a clone Citus knows;
    ``member``: promoted by an earlier run, nothing to do)."""
    pairs, _ = parse_clone_specs(inputs.get("new_workers") or [])
    with op.coordinator() as hook:
        placements = [p for p in hook.placements_per_node() if p["shouldhaveshards"]]
        rows = {(n, p): hook.clone_node(n, p) for n, p in
                {(w.host, w.port) for pair in pairs for w in pair if w} | {(p["nodename"], p["nodeport"])
                                                                             for p in placements}}
    news = {new for new, _ in pairs}
    candidates = sorted((p for p in placements if Worker(p["nodename"], p["nodeport"]) not in news),
                        key=lambda p: -int(p["total_bytes"] or 0))
    clones = []
    for new, given in pairs:
        source = given
        label = f"new worker {new}"
        problems = by_node.setdefault(label, [])
        if source is None:
            if not candidates:
                problems.append("no worker holds shards to clone")
                continue
            source = Worker(candidates[0]["nodename"], candidates[0]["nodeport"])
            op.log.info("%s: cloning %s, the worker with the most data (%s)", new, source,
                        pretty_bytes(candidates[0]["total_bytes"]))
        clones.append(_check_clone(op, inputs, coordinator, new, source, rows, problems))
        if not problems:
            del by_node[label]
    return clones


def _check_clone(op: CitusBaseOperator, inputs: dict[str, Any], coordinator: dict[str, Any], new: Worker,
                 source: Worker, rows: dict[tuple[str, int], Any], problems: list[str]) -> dict[str, Any]:
    import psycopg2

    from pgshift.citus.hook import pg_message

    record: dict[str, Any] = {"node": str(new), **new.as_dict(), "source": str(source), "source_host": source.host,
                              "source_port": source.port, "slot": slot_name(new.host, new.port),
                              "data_dir": data_dir_for(inputs.get("clone_data_dir") or "", new.host, new.port),
                              "state": "build", "nodeid": None, "source_bytes": None}
    src_row, new_row = rows.get((source.host, source.port)), rows.get((new.host, new.port))
    if not src_row or src_row["groupid"] == 0 or not src_row["isactive"] or src_row["nodeisclone"]:
        problems.append(f"its source {source} is no active worker of the cluster")
        return record
    if not src_row["shouldhaveshards"]:
        problems.append(f"its source {source} has shouldhaveshards=false: Citus clones only nodes with shards")
    try:
        with op.node(source) as hook:
            facts = hook.clone_source_facts()
            slot = hook.physical_slot(record["slot"])
    except psycopg2.Error as exc:
        problems.append(f"its source {source} cannot be reached from Airflow: {pg_message(exc)}")
        return record
    record["source_bytes"] = facts["cluster_bytes"]
    if coordinator.get("server_version_num") and \
            facts["server_version_num"] // 10000 != coordinator["server_version_num"] // 10000:
        problems.append(f"its source {source} runs PostgreSQL {facts['server_version']}, the coordinator "
                        f"{coordinator['server_version']}")
    if facts["citus_extversion"] != coordinator.get("citus_extversion"):
        problems.append(f"its source {source} has citus {facts['citus_extversion']}, the coordinator "
                        f"{coordinator.get('citus_extversion')}")
    if facts["in_recovery"]:
        problems.append(f"its source {source} is in recovery: clone a primary worker")
    if facts["wal_level"] not in ("replica", "logical"):
        problems.append(f"its source {source} has wal_level={facts['wal_level']}: a standby needs replica or logical")
    if facts["senders_used"] >= facts["max_wal_senders"]:
        problems.append(f"its source {source} has no free WAL sender ({facts['senders_used']} of max_wal_senders "
                        f"{facts['max_wal_senders']} in use)")
    if slot is None and facts["slots_used"] >= facts["max_replication_slots"]:
        problems.append(f"its source {source} has no free replication slot (max_replication_slots "
                        f"{facts['max_replication_slots']})")
    elif slot is not None and slot["slot_type"] != "physical":
        problems.append(f"its source {source} has a {slot['slot_type']} slot named {record['slot']!r}")

    standby = _standby_state(op, new)
    if new_row is not None:
        record["nodeid"] = new_row["nodeid"]
        if new_row["isactive"] and not new_row["nodeisclone"]:
            record["state"] = "member"  # promoted by an earlier run
            return record
        if not new_row["nodeisclone"]:
            problems.append(f"is in the cluster as node {new_row['nodeid']} ({new_row['noderole']}, inactive), not as "
                            "a clone: remove it first (citus_remove_node)")
            return record
        if new_row["nodeprimarynodeid"] != src_row["nodeid"]:
            problems.append(f"is registered as a clone of node {new_row['nodeprimarynodeid']}, not of {source} "
                            f"(node {src_row['nodeid']})")
            return record
        if standby is not None and not standby.get("in_recovery"):
            problems.append(half_promoted(str(new), str(source)))
            return record
        record["state"] = "registered"
    if standby is not None:
        if standby.get("in_recovery") and standby.get("sender_port") == source.port:
            record["state"] = "streaming" if record["state"] == "build" else record["state"]
            return record
        if record["state"] == "build":
            problems.append("runs a server that is no standby of its source: the clone method rebuilds the node "
                            "from an empty data directory (stop that server and empty it first)")
        return record
    if record["state"] == "registered":
        problems.append("is registered as a clone but cannot be reached: start it, or remove it with "
                        f"citus_remove_clone_node('{new.host}', {new.port}) and run again")
        return record
    problems += _host_problems(inputs, record)
    return record


def _standby_state(op: CitusBaseOperator, node: Worker) -> dict[str, Any] | None:
    """The node's recovery state and WAL receiver, None when nothing answers there."""
    import psycopg2

    try:
        with op.node(node) as hook:
            return hook.wal_receiver()
    except psycopg2.OperationalError:
        return None


def _host_problems(inputs: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """The new host: an empty (or missing) data directory, and room for a copy of the source."""
    host = HostB(inputs.get("clone_ssh_conn_id") or None, inputs.get("clone_os_user") or None)
    data_dir = record["data_dir"]
    probe = host.run(["sh", "-c", 'd="$1"; if [ -e "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo notempty; '
                      'fi; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | tail -1', "sh", data_dir])
    if probe.returncode:
        return [f"cannot inspect {data_dir} on {host.where}: {probe.stderr.strip() or probe.stdout.strip()}"]
    problems = []
    if "notempty" in probe.stdout:
        problems.append(f"its data directory {data_dir} is not empty: the clone needs an empty one")
    fields = probe.stdout.strip().splitlines()[-1].split()
    available = int(fields[3]) * 1024 if len(fields) > 3 and fields[3].isdigit() else None
    needed = int((record["source_bytes"] or 0) * HEADROOM)
    if available is not None and available < needed:
        problems.append(f"has {pretty_bytes(available)} free under {data_dir}, the copy of {record['source']} needs "
                        f"about {pretty_bytes(needed)}")
    return problems
