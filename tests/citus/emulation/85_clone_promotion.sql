-- pgshift's Citus emulation, part 8b: promoting a clone (citus_promote_clone_and_rebalance, F_06 and F_10).
--
-- Writes to the primary are blocked, the clone's replay is compared with the primary's WAL position until
-- they meet (or the timeout passes: nothing changed), pg_promote() runs on the clone over dblink, and only
-- then is the strategy resolved and the metadata changed -- so a bad strategy leaves, as on Citus, a
-- promoted server registered as an inactive clone.

-- Catch-up as Citus 13.2 does it (F_06's coordinator log): the primary's current WAL position against
-- the clone's replay position, re-checked every clone_catchup_poll_seconds (Citus: 5 s).
CREATE FUNCTION citus_emulation.wait_for_catchup(p_primary pg_catalog.pg_dist_node, p_clone pg_catalog.pg_dist_node,
                                                 p_timeout integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_start timestamptz := clock_timestamp();
    v_primary_lsn pg_lsn;
    v_clone_lsn pg_lsn;
    v_lag numeric;
BEGIN
    WHILE clock_timestamp() - v_start < make_interval(secs => p_timeout) LOOP
        v_primary_lsn := (citus_emulation.remote_json(p_primary.nodename, p_primary.nodeport,
                                                      'SELECT pg_current_wal_lsn() AS lsn') -> 0 ->> 'lsn')::pg_lsn;
        v_clone_lsn := (citus_emulation.remote_json(p_clone.nodename, p_clone.nodeport,
                                                    'SELECT pg_last_wal_replay_lsn() AS lsn') -> 0 ->> 'lsn')::pg_lsn;
        v_lag := greatest(v_primary_lsn - v_clone_lsn, 0);
        RAISE DEBUG 'replication lag between % and % is % bytes', citus_emulation.node_label(p_primary),
            citus_emulation.node_label(p_clone), v_lag;
        IF v_lag = 0 THEN
            RAISE NOTICE 'Clone % is now caught up with primary %.', citus_emulation.node_label(p_clone),
                citus_emulation.node_label(p_primary);
            RETURN;
        END IF;
        PERFORM pg_sleep(least(citus_emulation.setting('clone_catchup_poll_seconds')::float8,
                               greatest(p_timeout - extract(epoch FROM clock_timestamp() - v_start)::float8, 0.01)));
    END LOOP;
    RAISE EXCEPTION 'Clone % failed to catch up with primary % within % seconds.', citus_emulation.node_label(p_clone),
        citus_emulation.node_label(p_primary), p_timeout USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;

-- The coordinator's partition of a shard now reads the shard on another node (same bound).
CREATE FUNCTION citus_emulation.repoint_shard(p_shardid bigint, p_nodeid integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_rel regclass;
    v_bound text;
BEGIN
    SELECT logicalrelid INTO STRICT v_rel FROM pg_catalog.pg_dist_shard WHERE shardid = p_shardid;
    SELECT pg_get_expr(c.relpartbound, c.oid) INTO STRICT v_bound
    FROM pg_class c WHERE c.oid = citus_emulation.shard_partition(p_shardid)::regclass;
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', v_rel, citus_emulation.shard_partition(p_shardid));
    EXECUTE format('DROP FOREIGN TABLE %s', citus_emulation.shard_partition(p_shardid));
    PERFORM citus_emulation.create_shard_foreign_table(v_rel, p_shardid, p_nodeid, citus_emulation.shard_relname(p_shardid));
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s %s', v_rel, citus_emulation.shard_partition(p_shardid), v_bound);
END
$$;

CREATE FUNCTION pg_catalog.citus_promote_clone_and_rebalance(
    clone_nodeid integer, rebalance_strategy name DEFAULT NULL, catchup_timeout_seconds integer DEFAULT 300)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_clone pg_catalog.pg_dist_node;
    v_primary pg_catalog.pg_dist_node;
    v_rel regclass;
    v_split record;
    v_operation bigint;
    v_primary_shards integer;
    v_clone_shards integer;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    SELECT * INTO v_clone FROM pg_catalog.pg_dist_node n WHERE n.nodeid = coalesce(clone_nodeid, 0);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Clone node with ID % not found.', coalesce(clone_nodeid, 0)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM citus_emulation.clone_of(v_clone, NULL);
    SELECT * INTO STRICT v_primary FROM pg_catalog.pg_dist_node n WHERE n.nodeid = v_clone.nodeprimarynodeid;
    RAISE NOTICE 'Starting promotion process for clone node % (ID %), original primary % (ID %)',
        citus_emulation.node_label(v_clone), v_clone.nodeid, citus_emulation.node_label(v_primary), v_primary.nodeid;
    PERFORM citus_emulation.check_replication(v_primary, v_clone.nodename, v_clone.nodeport);

    -- Writes to the primary's shards wait from here to the end of this transaction (the emulation
    -- locks the distributed tables themselves: writes to all their shards wait).
    RAISE NOTICE 'Blocking writes on shards of original primary node % (group %)', citus_emulation.node_label(v_primary),
        v_primary.groupid;
    FOR v_rel IN
        SELECT DISTINCT s.logicalrelid FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement pl USING (shardid)
        WHERE pl.groupid = v_primary.groupid ORDER BY 1
    LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE MODE', v_rel);
    END LOOP;
    RAISE NOTICE 'Blocking all writes to worker node % (ID %)', citus_emulation.node_label(v_primary), v_primary.nodeid;
    RAISE NOTICE 'Waiting for clone % to catch up with primary % (timeout: % seconds)', citus_emulation.node_label(v_clone),
        citus_emulation.node_label(v_primary), catchup_timeout_seconds;
    PERFORM citus_emulation.wait_for_catchup(v_primary, v_clone, catchup_timeout_seconds);

    RAISE NOTICE 'Attempting to promote clone % via pg_promote().', citus_emulation.node_label(v_clone);
    PERFORM citus_emulation.remote_json(v_clone.nodename, v_clone.nodeport, 'SELECT pg_promote(true, 60) AS promoted');
    RAISE NOTICE 'Clone node % (ID %) has been successfully promoted.', citus_emulation.node_label(v_clone), v_clone.nodeid;
    RAISE NOTICE 'Updating metadata for promoted clone % (ID %)', citus_emulation.node_label(v_clone), v_clone.nodeid;
    -- The strategy is resolved here, after pg_promote() (F_10): an unknown one rolls the metadata back only.
    PERFORM citus_emulation.drop_temp(ARRAY['citus_promote_split']);
    CREATE TEMP TABLE citus_promote_split ON COMMIT DROP AS
    SELECT * FROM citus_emulation.split(v_primary, rebalance_strategy);
    RAISE NOTICE 'adjusting shard placements for primary % and clone %', citus_emulation.node_label(v_primary),
        citus_emulation.node_label(v_clone);
    SELECT count(*) FILTER (WHERE NOT clone_side), count(*) FILTER (WHERE clone_side)
    INTO v_primary_shards, v_clone_shards FROM citus_promote_split;
    RAISE NOTICE 'processing % shards for primary node GroupID %', v_primary_shards, v_primary.groupid;
    RAISE NOTICE 'processing % shards for clone node GroupID %', v_clone_shards, v_clone.groupid;

    UPDATE pg_catalog.pg_dist_node
    SET hasmetadata = true, isactive = true, noderole = 'primary', metadatasynced = true, shouldhaveshards = true,
        nodeisclone = false, nodeprimarynodeid = 0
    WHERE nodeid = v_clone.nodeid;
    v_operation := nextval('pg_catalog.pg_dist_operationid_seq');
    FOR v_split IN SELECT * FROM citus_promote_split ORDER BY clone_side, ord, shardid LOOP
        IF v_split.clone_side THEN
            UPDATE pg_catalog.pg_dist_placement SET groupid = v_clone.groupid
            WHERE shardid = v_split.shardid AND groupid = v_primary.groupid;
            PERFORM citus_emulation.repoint_shard(v_split.shardid, v_clone.nodeid);
        END IF;
        -- Each side drops its copy of the other side's shards later (policy 2: deferred on success).
        INSERT INTO pg_catalog.pg_dist_cleanup VALUES (nextval('pg_catalog.pg_dist_cleanup_recordid_seq'), v_operation, 1,
            format('%I.%I', citus_emulation.shard_schema(v_split.shardid), citus_emulation.shard_relname(v_split.shardid)),
            CASE WHEN v_split.clone_side THEN v_primary.groupid ELSE v_clone.groupid END, 2);
    END LOOP;
    RAISE NOTICE 'Clone node % (ID %) metadata updated. It is now a primary', citus_emulation.node_label(v_clone),
        v_clone.nodeid;
    RAISE NOTICE 'Clone node % (ID %) successfully registered as a worker node', citus_emulation.node_label(v_clone),
        v_clone.nodeid;
END
$$;
COMMENT ON FUNCTION pg_catalog.citus_promote_clone_and_rebalance(integer, name, integer) IS
    'Promotes a registered clone node to a primary, performs necessary metadata updates, and rebalances a portion of shards from its original primary to the newly promoted node. The catchUpTimeoutSeconds parameter controls how long to wait for the clone to catch up with the primary (default: 300 seconds).';

-- Citus revokes EXECUTE on these from PUBLIC (F_00: acl {postgres=X/postgres}).
REVOKE EXECUTE ON FUNCTION pg_catalog.citus_add_clone_node(text, integer, text, integer),
    pg_catalog.citus_add_clone_node_with_nodeid(text, integer, integer),
    pg_catalog.get_snapshot_based_node_split_plan(text, integer, text, integer, name),
    pg_catalog.citus_promote_clone_and_rebalance(integer, name, integer),
    pg_catalog.citus_remove_clone_node(text, integer),
    pg_catalog.citus_remove_clone_node_with_nodeid(integer) FROM PUBLIC;
