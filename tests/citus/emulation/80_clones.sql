-- pgshift's Citus emulation, part 8: snapshot-based node addition (Citus 13.2's clones, transcripts F_*).
--
-- A clone is a real physical standby of a worker (pg_basebackup -R, started by the test or by the
-- DAG): the emulation only checks it and registers it (citus_add_clone_node), splits the worker's
-- shard groups between the two (get_snapshot_based_node_split_plan), and promotes it
-- (citus_promote_clone_and_rebalance: writes blocked, catch-up loop, pg_promote() over dblink, then
-- the metadata). As in Citus, the strategy is resolved only after pg_promote() has run (F_10): a bad
-- strategy leaves a standalone primary registered as an inactive clone.

CREATE FUNCTION citus_emulation.node_label(p_node pg_catalog.pg_dist_node) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT p_node.nodename || ':' || p_node.nodeport $$;

-- The clone's side of the replication, read on the clone: in recovery, WAL receiver status and sender.
CREATE FUNCTION citus_emulation.clone_state(p_host text, p_port integer) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT citus_emulation.remote_json(p_host, p_port,
        'SELECT pg_is_in_recovery() AS in_recovery, r.status, r.sender_host, r.sender_port '
        'FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true') -> 0
$$;

-- "checking replication relationship ..." (F_04): the clone streams from that primary, asynchronously.
CREATE FUNCTION citus_emulation.check_replication(p_primary pg_catalog.pg_dist_node, p_clone_host text,
                                                  p_clone_port integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_clone text := p_clone_host || ':' || p_clone_port;
    v_primary text := citus_emulation.node_label(p_primary);
    v_state jsonb;
    v_sync jsonb;
BEGIN
    RAISE NOTICE 'checking replication relationship between primary % and clone %', v_primary, v_clone;
    RAISE NOTICE 'checking replication status of clone node %', v_clone;
    v_state := citus_emulation.clone_state(p_clone_host, p_clone_port);
    IF NOT coalesce((v_state ->> 'in_recovery')::boolean, false) OR v_state ->> 'status' IS DISTINCT FROM 'streaming'
       OR (v_state ->> 'sender_port')::integer IS DISTINCT FROM p_primary.nodeport THEN
        RAISE EXCEPTION 'clone % is not connected to primary %', v_clone, v_primary
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The clone must be actively replicating from the specified primary node',
                  HINT = 'Verify the clone is running and properly configured for replication';
    END IF;
    v_sync := citus_emulation.remote_json(p_primary.nodename, p_primary.nodeport,
        'SELECT coalesce(bool_or(sync_state IN (''sync'', ''quorum'')), false) AS sync FROM pg_stat_replication');
    RAISE NOTICE 'clone % is properly connected to primary % and is %', v_clone, v_primary,
        CASE WHEN (v_sync -> 0 ->> 'sync')::boolean THEN 'synchronous' ELSE 'not synchronous' END;
END
$$;

CREATE FUNCTION citus_emulation.add_clone(p_host text, p_port integer, p_primary pg_catalog.pg_dist_node)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_existing pg_catalog.pg_dist_node;
    v_state jsonb;
    v_nodeid integer;
BEGIN
    IF NOT p_primary.shouldhaveshards THEN
        RAISE EXCEPTION 'primary node % does not have shards, node without shards cannot have clones',
            citus_emulation.node_label(p_primary) USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT * INTO v_existing FROM pg_catalog.pg_dist_node n WHERE n.nodename = p_host AND n.nodeport = p_port;
    IF FOUND THEN
        -- Already this primary's clone: its nodeid, without checking replication again (F_04, F_10).
        IF v_existing.nodeisclone AND v_existing.nodeprimarynodeid = p_primary.nodeid THEN
            RAISE NOTICE 'node % is already registered as a clone for primary % (nodeid %)',
                citus_emulation.node_label(v_existing), citus_emulation.node_label(p_primary), p_primary.nodeid;
            RETURN v_existing.nodeid;
        END IF;
        RAISE EXCEPTION 'a different node % (nodeid %) already exists or is a clone for a different primary',
            citus_emulation.node_label(v_existing), v_existing.nodeid USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    v_state := citus_emulation.clone_state(p_host, p_port);  -- unreachable: 08006 (F_02)
    IF NOT (v_state ->> 'in_recovery')::boolean THEN
        RAISE EXCEPTION 'node %:% is not in recovery mode', p_host, p_port
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM citus_emulation.check_replication(p_primary, p_host, p_port);
    INSERT INTO pg_catalog.pg_dist_node AS n
        (groupid, nodename, nodeport, hasmetadata, isactive, noderole, nodecluster, metadatasynced,
         shouldhaveshards, nodeisclone, nodeprimarynodeid)
    VALUES (nextval('pg_catalog.pg_dist_groupid_seq')::integer, p_host, p_port, false, false, 'unavailable',
            p_primary.nodecluster, false, false, true, p_primary.nodeid)
    RETURNING n.nodeid INTO v_nodeid;
    RETURN v_nodeid;
END
$$;

CREATE FUNCTION pg_catalog.citus_add_clone_node(replica_hostname text, replica_port integer, primary_hostname text,
                                                primary_port integer)
RETURNS integer LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_primary pg_catalog.pg_dist_node;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT * INTO v_primary FROM pg_catalog.pg_dist_node n
    WHERE n.nodename = primary_hostname AND n.nodeport = primary_port;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'primary node %:% not found in pg_dist_node', primary_hostname, primary_port
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN citus_emulation.add_clone(replica_hostname, replica_port, v_primary);
END
$$;
COMMENT ON FUNCTION pg_catalog.citus_add_clone_node(text, integer, text, integer) IS
    'Adds a new node as a clone of an existing primary node. The clone is initially inactive. Returns the nodeid of the new clone node.';

CREATE FUNCTION pg_catalog.citus_add_clone_node_with_nodeid(replica_hostname text, replica_port integer,
                                                            primary_nodeid integer)
RETURNS integer LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_primary pg_catalog.pg_dist_node;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT * INTO v_primary FROM pg_catalog.pg_dist_node n WHERE n.nodeid = primary_nodeid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node with node id % could not be found', primary_nodeid USING ERRCODE = 'internal_error';
    END IF;
    RETURN citus_emulation.add_clone(replica_hostname, replica_port, v_primary);
END
$$;
COMMENT ON FUNCTION pg_catalog.citus_add_clone_node_with_nodeid(text, integer, integer) IS
    'Adds a new node as a clone of an existing primary node using the primary node''s ID. The clone is initially inactive. Returns the nodeid of the new clone node.';

CREATE FUNCTION citus_emulation.remove_clone(p_node pg_catalog.pg_dist_node) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT p_node.nodeisclone THEN
        RAISE EXCEPTION 'Node % (ID %) is not a clone node. Use citus_remove_node() to remove primary or already promoted nodes.',
            citus_emulation.node_label(p_node), p_node.nodeid USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_node.isactive THEN
        RAISE EXCEPTION 'Clone node % (ID %) is active and cannot be removed', citus_emulation.node_label(p_node),
            p_node.nodeid USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RAISE NOTICE 'Removing inactive clone node % (ID %)', citus_emulation.node_label(p_node), p_node.nodeid;
    DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = p_node.nodeid;
END
$$;

CREATE FUNCTION pg_catalog.citus_remove_clone_node(nodename text, nodeport integer)
RETURNS void LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_node pg_catalog.pg_dist_node;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT * INTO v_node FROM pg_catalog.pg_dist_node n
    WHERE n.nodename = citus_remove_clone_node.nodename AND n.nodeport = citus_remove_clone_node.nodeport;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%:%" does not exist', nodename, nodeport USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM citus_emulation.remove_clone(v_node);
END
$$;
COMMENT ON FUNCTION pg_catalog.citus_remove_clone_node(text, integer) IS
    'Removes an inactive streaming clone node from Citus metadata. Errors if the node is not found, not registered as a clone, or is currently marked active.';

CREATE FUNCTION pg_catalog.citus_remove_clone_node_with_nodeid(nodeid integer)
RETURNS void LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_node pg_catalog.pg_dist_node;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT * INTO v_node FROM pg_catalog.pg_dist_node n WHERE n.nodeid = citus_remove_clone_node_with_nodeid.nodeid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Clone node with ID % does not exist', nodeid USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM citus_emulation.remove_clone(v_node);
END
$$;
COMMENT ON FUNCTION pg_catalog.citus_remove_clone_node_with_nodeid(integer) IS
    'Removes an inactive streaming clone node from Citus metadata using its node ID. Errors if the node is not found, not registered as a clone, or is currently marked active.';

-- The clone of p_primary, or Citus's errors for a node that is none (F_02, F_05, F_07).
CREATE FUNCTION citus_emulation.clone_of(p_clone pg_catalog.pg_dist_node, p_primary pg_catalog.pg_dist_node)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT p_clone.nodeisclone OR p_clone.nodeprimarynodeid = 0 THEN
        RAISE EXCEPTION 'Node % (ID %) is not a valid clone or its primary node ID is not set.',
            citus_emulation.node_label(p_clone), p_clone.nodeid USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_primary.nodeid IS NOT NULL AND p_clone.nodeprimarynodeid <> p_primary.nodeid THEN
        RAISE EXCEPTION 'Clone node % (ID %) is not a clone of the primary node % (ID %).',
            citus_emulation.node_label(p_clone), p_clone.nodeid, citus_emulation.node_label(p_primary), p_primary.nodeid
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$$;

-- The split: the primary's shard groups by cost (the strategy's), most costly first; each goes to
-- the clone while the clone's share is below the primary's. Reproduces F_05 for both strategies.
CREATE FUNCTION citus_emulation.split(p_primary pg_catalog.pg_dist_node, p_strategy name)
RETURNS TABLE (ord integer, table_name regclass, shardid bigint, shard_size bigint, clone_side boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_strategy pg_catalog.pg_dist_rebalance_strategy := citus_emulation.strategy(p_strategy);
    v_by_size boolean := v_strategy.shard_cost_function = 'pg_catalog.citus_shard_cost_by_disk_size'::regproc;
    v_group record;
    v_cost float8;
    v_clone_load float8 := 0;
    v_primary_load float8;
    v_ord integer := 0;
BEGIN
    PERFORM citus_emulation.drop_temp(ARRAY['citus_split_group']);
    CREATE TEMP TABLE citus_split_group ON COMMIT DROP AS
    SELECT p.colocationid, s.shardminvalue, min(s.shardid) AS rep, array_agg(s.shardid ORDER BY p.logicalrelid::oid) AS shards,
           0::float8 AS cost, false AS clone_side, 0 AS ord
    FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
         JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
    WHERE pl.groupid = p_primary.groupid
    GROUP BY p.colocationid, s.shardminvalue;
    IF v_by_size THEN
        UPDATE citus_split_group g SET cost = citus_emulation.by_disk_size_base_cost()
            + coalesce((SELECT sum(z.size) FROM citus_emulation.shard_sizes() z WHERE z.shardid = ANY (g.shards)), 0);
    ELSE
        FOR v_group IN SELECT rep FROM citus_split_group LOOP
            EXECUTE format('SELECT %s($1)', v_strategy.shard_cost_function) INTO v_cost USING v_group.rep;
            UPDATE citus_split_group SET cost = v_cost WHERE rep = v_group.rep;
        END LOOP;
    END IF;
    SELECT coalesce(sum(cost), 0) INTO v_primary_load FROM citus_split_group;
    FOR v_group IN SELECT rep, cost FROM citus_split_group ORDER BY cost DESC, rep LOOP
        v_ord := v_ord + 1;
        IF v_clone_load < v_primary_load THEN
            v_clone_load := v_clone_load + v_group.cost;
            v_primary_load := v_primary_load - v_group.cost;
            UPDATE citus_split_group SET clone_side = true, ord = v_ord WHERE rep = v_group.rep;
        ELSE
            UPDATE citus_split_group SET ord = v_ord WHERE rep = v_group.rep;
        END IF;
    END LOOP;
    RETURN QUERY
    SELECT g.ord, s.logicalrelid, s.shardid, pl.shardlength, g.clone_side
    FROM citus_split_group g CROSS JOIN LATERAL unnest(g.shards) WITH ORDINALITY AS u(shardid, n)
         JOIN pg_catalog.pg_dist_shard s ON s.shardid = u.shardid
         JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
    ORDER BY g.clone_side, g.ord, u.n;
END
$$;

CREATE FUNCTION citus_emulation.node_by_name(p_host text, p_port integer) RETURNS pg_catalog.pg_dist_node
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v pg_catalog.pg_dist_node;
BEGIN
    SELECT * INTO v FROM pg_catalog.pg_dist_node n WHERE n.nodename = p_host AND n.nodeport = p_port;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node %:% not found', p_host, p_port USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v;
END
$$;

CREATE FUNCTION pg_catalog.get_snapshot_based_node_split_plan(
    primary_node_name text, primary_node_port integer, replica_node_name text, replica_node_port integer,
    rebalance_strategy name DEFAULT NULL)
RETURNS TABLE (table_name regclass, shardid bigint, shard_size bigint, placement_node text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_primary pg_catalog.pg_dist_node := citus_emulation.node_by_name(primary_node_name, primary_node_port);
    v_clone pg_catalog.pg_dist_node := citus_emulation.node_by_name(replica_node_name, replica_node_port);
BEGIN
    PERFORM citus_emulation.clone_of(v_clone, v_primary);
    RETURN QUERY SELECT s.table_name, s.shardid, s.shard_size,
                        CASE WHEN s.clone_side THEN 'Clone Node' ELSE 'Primary Node' END
                 FROM citus_emulation.split(v_primary, rebalance_strategy) s;
END
$$;
COMMENT ON FUNCTION pg_catalog.get_snapshot_based_node_split_plan(text, integer, text, integer, name) IS
    'shows the shard placements to balance shards between primary and replica worker nodes';
