-- pgshift's Citus emulation, part 5: shard moves, their progress, and the cleanup of leftovers.

CREATE FUNCTION pg_catalog.get_rebalance_progress()
RETURNS TABLE (sessionid integer, table_name regclass, shardid bigint, shard_size bigint, sourcename text,
               sourceport integer, targetname text, targetport integer, progress bigint, source_shard_size bigint,
               target_shard_size bigint, operation_type text, source_lsn pg_lsn, target_lsn pg_lsn, status text)
LANGUAGE sql VOLATILE STRICT AS $$
    -- Citus reads live sessions' shared memory: rows of a session that has gone are not shown.
    SELECT r.sessionid, r.table_name, r.shardid, r.shard_size, r.sourcename, r.sourceport, r.targetname,
           r.targetport, r.progress, r.source_shard_size, r.target_shard_size, r.operation_type, r.source_lsn,
           r.target_lsn, r.status
    FROM citus_emulation.rebalance_progress r
    WHERE r.sessionid IN (SELECT a.pid FROM pg_stat_activity a)
    ORDER BY r.sessionid, r.shardid
$$;

CREATE FUNCTION citus_emulation.move_sleep(p_fraction float8) RETURNS void
LANGUAGE sql VOLATILE AS $$ SELECT pg_sleep(citus_emulation.setting('move_seconds')::float8 * p_fraction) $$;

CREATE FUNCTION citus_emulation.progress(p_set text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT citus_emulation.autonomous(format('UPDATE citus_emulation.rebalance_progress SET %s WHERE sessionid = %s',
                                             p_set, pg_backend_pid()))
$$;

-- The current WAL position of a node, for the progress's LSN columns.
CREATE FUNCTION citus_emulation.remote_lsn(p_host text, p_port integer) RETURNS pg_lsn
LANGUAGE sql VOLATILE AS $$
    SELECT (citus_emulation.remote_json(p_host, p_port, 'SELECT pg_current_wal_lsn() AS lsn') -> 0 ->> 'lsn')::pg_lsn
$$;

-- Total size of the given shards on a node.
CREATE FUNCTION citus_emulation.remote_shards_size(p_host text, p_port integer, p_shards bigint[]) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce((citus_emulation.remote_json(p_host, p_port, format(
        'SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS size FROM pg_class c '
        'JOIN pg_namespace n ON n.oid = c.relnamespace WHERE (n.nspname, c.relname) IN (%s)',
        (SELECT string_agg(format('(%L, %L)', citus_emulation.shard_schema(s), citus_emulation.shard_relname(s)), ', ')
         FROM unnest(p_shards) s))) -> 0 ->> 'size')::bigint, 0)
$$;

CREATE FUNCTION pg_catalog.citus_move_shard_placement(
    shard_id bigint, source_node_id integer, target_node_id integer,
    shard_transfer_mode citus.shard_transfer_mode DEFAULT 'auto')
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_src pg_catalog.pg_dist_node;
    v_tgt pg_catalog.pg_dist_node;
    v_shards bigint[];
    v_shard bigint;
    v_rel regclass;
    v_bound text;
    v_staging name;
    v_operation bigint;
    v_records bigint[] := '{}';
    v_record bigint;
    v_lsn pg_lsn;
    v_size bigint;
    v_step text;
    v_message text;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    SELECT * INTO v_src FROM pg_catalog.pg_dist_node WHERE nodeid = source_node_id;
    SELECT * INTO v_tgt FROM pg_catalog.pg_dist_node WHERE nodeid = target_node_id;
    IF v_src.nodeid IS NULL OR v_tgt.nodeid IS NULL THEN
        RAISE EXCEPTION 'node with node id % could not be found',
            CASE WHEN v_src.nodeid IS NULL THEN source_node_id ELSE target_node_id END USING ERRCODE = 'internal_error';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement WHERE shardid = shard_id AND groupid = v_src.groupid) THEN
        RAISE EXCEPTION 'could not find placement matching "%:%"', v_src.nodename, v_src.nodeport
            USING ERRCODE = 'internal_error', HINT = 'Confirm the placement still exists and try again.';
    END IF;
    IF v_src.groupid = v_tgt.groupid THEN
        RAISE EXCEPTION 'cannot move shard to the same node' USING ERRCODE = 'internal_error';
    END IF;
    -- A move takes the whole shard group: every colocated shard with the same hash range.
    SELECT array_agg(s2.shardid ORDER BY p2.logicalrelid::oid) INTO v_shards
    FROM pg_catalog.pg_dist_shard s1
         JOIN pg_catalog.pg_dist_partition p1 ON p1.logicalrelid = s1.logicalrelid
         JOIN pg_catalog.pg_dist_partition p2 ON p2.colocationid = p1.colocationid
         JOIN pg_catalog.pg_dist_shard s2 ON s2.logicalrelid = p2.logicalrelid AND s2.shardminvalue = s1.shardminvalue
    WHERE s1.shardid = shard_id;

    v_size := citus_emulation.remote_shards_size(v_src.nodename, v_src.nodeport, v_shards);
    v_lsn := citus_emulation.remote_lsn(v_src.nodename, v_src.nodeport);
    PERFORM citus_emulation.autonomous(format(
        'INSERT INTO citus_emulation.rebalance_progress (sessionid, table_name, shardid, shard_size, sourcename, '
        'sourceport, targetname, targetport, progress, source_shard_size, target_shard_size, source_lsn, status) '
        'SELECT %s, s.logicalrelid, s.shardid, %s, %L, %s, %L, %s, 1, %s, 0, %L, ''Setting Up'' '
        'FROM pg_catalog.pg_dist_shard s WHERE s.shardid = ANY (%L::bigint[])',
        pg_backend_pid(), v_size, v_src.nodename, v_src.nodeport, v_tgt.nodename, v_tgt.nodeport, v_size, v_lsn,
        v_shards));

    -- Citus checks the target's disk first; an unreachable target fails here on a retry (B_default_02).
    BEGIN
        PERFORM citus_emulation.remote_json(v_tgt.nodename, v_tgt.nodeport,
                                            'SELECT pg_database_size(current_database()) AS size');
    EXCEPTION WHEN connection_exception THEN
        RAISE EXCEPTION 'Could not fetch disk stats for node: %-%', v_tgt.nodename, v_tgt.nodeport
            USING ERRCODE = 'internal_error';
    END;
    PERFORM citus_emulation.move_sleep(0.15);

    -- Leftovers on the target are registered before they exist, in their own transaction, so that a
    -- failed move leaves a pg_dist_cleanup record (policy 1: on failure), as Citus does.
    v_operation := nextval('pg_catalog.pg_dist_operationid_seq');
    BEGIN
        FOREACH v_shard IN ARRAY v_shards LOOP
            v_record := nextval('pg_catalog.pg_dist_cleanup_recordid_seq');
            v_records := v_records || v_record;
            PERFORM citus_emulation.autonomous(format(
                'INSERT INTO pg_catalog.pg_dist_cleanup VALUES (%s, %s, 1, %L, %s, 1)', v_record, v_operation,
                format('%I.%I', citus_emulation.shard_schema(v_shard), citus_emulation.shard_relname(v_shard)),
                v_tgt.groupid));
            v_step := 'target';
            PERFORM citus_emulation.remote_exec(v_tgt.nodename, v_tgt.nodeport, citus_emulation.shard_ddl(v_shard));
        END LOOP;
        PERFORM citus_emulation.progress('status = ''Copying Data''');

        -- Writes wait until the move commits; the emulation's "catching up" is a pause.
        FOREACH v_shard IN ARRAY v_shards LOOP
            v_staging := left(citus_emulation.shard_relname(v_shard) || '_move', 63);
            SELECT logicalrelid INTO v_rel FROM pg_catalog.pg_dist_shard WHERE shardid = v_shard;
            PERFORM citus_emulation.create_shard_foreign_table(v_rel, v_shard, v_tgt.nodeid, v_staging);
            -- Foreign tables cannot be locked: writes to the whole table wait (block_writes).
            EXECUTE format('LOCK TABLE %s IN SHARE MODE', v_rel);
            v_step := 'copy';
            EXECUTE format('INSERT INTO citus_emulation.%I SELECT * FROM %s', v_staging,
                           citus_emulation.shard_partition(v_shard));
        END LOOP;
        PERFORM citus_emulation.move_sleep(0.35);
        v_step := 'target';
        v_size := citus_emulation.remote_shards_size(v_tgt.nodename, v_tgt.nodeport, v_shards);
        PERFORM citus_emulation.progress(format('status = ''Catching Up'', target_shard_size = %s', v_size));
        PERFORM citus_emulation.move_sleep(0.2);
        v_step := 'source';
        v_lsn := citus_emulation.remote_lsn(v_src.nodename, v_src.nodeport);
        PERFORM citus_emulation.progress(format('source_lsn = %L, target_lsn = %L', v_lsn, v_lsn));
        PERFORM citus_emulation.move_sleep(0.1);
        -- Citus 13.2 blocks writes to the shard group for a last catch-up before it switches over.
        PERFORM citus_emulation.progress('status = ''Final Catchup''');
        PERFORM citus_emulation.move_sleep(0.1);
        PERFORM citus_emulation.progress('status = ''Completing''');

        -- Switch the coordinator's partition over to the target and record the new placement.
        FOREACH v_shard IN ARRAY v_shards LOOP
            SELECT logicalrelid INTO v_rel FROM pg_catalog.pg_dist_shard WHERE shardid = v_shard;
            v_staging := left(citus_emulation.shard_relname(v_shard) || '_move', 63);
            SELECT pg_get_expr(c.relpartbound, c.oid) INTO STRICT v_bound
            FROM pg_class c WHERE c.oid = citus_emulation.shard_partition(v_shard)::regclass;
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', v_rel, citus_emulation.shard_partition(v_shard));
            EXECUTE format('DROP FOREIGN TABLE %s', citus_emulation.shard_partition(v_shard));
            EXECUTE format('ALTER FOREIGN TABLE citus_emulation.%I RENAME TO %I', v_staging,
                           citus_emulation.shard_relname(v_shard));
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s %s', v_rel, citus_emulation.shard_partition(v_shard),
                           v_bound);
            UPDATE pg_catalog.pg_dist_placement SET groupid = v_tgt.groupid
            WHERE shardid = v_shard AND groupid = v_src.groupid;
            -- The source copy goes once the move has committed (policy 2: deferred on success).
            INSERT INTO pg_catalog.pg_dist_cleanup VALUES (nextval('pg_catalog.pg_dist_cleanup_recordid_seq'),
                v_operation, 1, format('%I.%I', citus_emulation.shard_schema(v_shard), citus_emulation.shard_relname(v_shard)),
                v_src.groupid, 2);
        END LOOP;
        DELETE FROM pg_catalog.pg_dist_cleanup WHERE record_id = ANY (v_records);
        PERFORM citus_emulation.move_sleep(0.1);
        PERFORM citus_emulation.progress('status = ''Completed'', progress = 2');
    EXCEPTION WHEN connection_exception OR fdw_error THEN
        -- Citus gives up on the node it lost: "failure on connection marked as essential".
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
        IF v_step = 'source' OR (v_step = 'copy' AND v_message LIKE '%"citus_node_' || v_src.nodeid || '"%') THEN
            v_src := v_src;
        ELSE
            v_src := v_tgt;
        END IF;
        RAISE EXCEPTION 'failure on connection marked as essential: %:%', v_src.nodename, v_src.nodeport
            USING ERRCODE = 'connection_failure';
    END;
    PERFORM citus_emulation.move_sleep(0.05);
    PERFORM citus_emulation.autonomous(format('DELETE FROM citus_emulation.rebalance_progress WHERE sessionid = %s',
                                              pg_backend_pid()));
END
$$;

-- Drops what pg_dist_cleanup lists where it can: leftovers of failed moves and moved-away sources.
CREATE FUNCTION citus_emulation.process_cleanup() RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_record record;
    v_done integer := 0;
BEGIN
    FOR v_record IN
        SELECT c.record_id, c.object_name, n.nodename, n.nodeport
        FROM pg_catalog.pg_dist_cleanup c JOIN pg_catalog.pg_dist_node n ON n.groupid = c.node_group_id
        WHERE n.noderole = 'primary' ORDER BY c.record_id
    LOOP
        BEGIN
            PERFORM citus_emulation.remote_exec(v_record.nodename, v_record.nodeport,
                format('SET client_min_messages = warning; DROP TABLE IF EXISTS %s', v_record.object_name));
            DELETE FROM pg_catalog.pg_dist_cleanup WHERE record_id = v_record.record_id;
            v_done := v_done + 1;
        EXCEPTION WHEN connection_exception THEN
            NULL;  -- the node is down: the record stays for a later cleanup
        END;
    END LOOP;
    RETURN v_done;
END
$$;

CREATE PROCEDURE pg_catalog.citus_cleanup_orphaned_resources()
LANGUAGE plpgsql AS $$
DECLARE
    v_done integer;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    v_done := citus_emulation.process_cleanup();
    IF v_done > 0 THEN
        RAISE NOTICE 'cleaned up % orphaned resources', v_done;
    END IF;
END
$$;

-- Blocking: moves every shard group off the node, one after the other, in this transaction.
CREATE FUNCTION pg_catalog.citus_drain_node(
    nodename text, nodeport integer, shard_transfer_mode citus.shard_transfer_mode DEFAULT 'auto',
    rebalance_strategy name DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_move record;
BEGIN
    PERFORM pg_catalog.citus_set_node_property(nodename, nodeport, 'shouldhaveshards', false);
    FOR v_move IN
        SELECT * FROM citus_emulation.plan_moves(NULL, NULL, 1000000, '{}', true, rebalance_strategy, NULL)
    LOOP
        PERFORM pg_catalog.citus_move_shard_placement(v_move.shardid, v_move.source_nodeid, v_move.target_nodeid,
                                                      shard_transfer_mode);
    END LOOP;
    PERFORM citus_emulation.process_cleanup();
END
$$;
