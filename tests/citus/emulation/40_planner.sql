-- pgshift's Citus emulation, part 4: rebalance strategies and the planner.
--
-- The planner is the emulation's own greedy algorithm, not Citus's code, tuned to the recorded
-- behaviour: nodes that should not have shards are drained first; then, per colocation group, the
-- costliest movable shard group goes from the most to the least utilized node while that lowers
-- the maximum, until every node is within the strategy's threshold of the average. With the sizes
-- of A_13 it reproduces A_12's plan, move for move.

CREATE FUNCTION pg_catalog.citus_shard_cost_1(bigint) RETURNS real
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 1::real $$;

CREATE FUNCTION pg_catalog.citus_node_capacity_1(integer) RETURNS real
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 1::real $$;

CREATE FUNCTION pg_catalog.citus_shard_allowed_on_node_true(bigint, integer) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT true $$;

-- Citus: the size of the shard and its colocated shards, plus citus.rebalancer_by_disk_size_base_cost.
CREATE FUNCTION citus_emulation.by_disk_size_base_cost() RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('citus.rebalancer_by_disk_size_base_cost', true), ''), '104857600')::float8
$$;

CREATE FUNCTION pg_catalog.citus_shard_cost_by_disk_size(shard_id bigint) RETURNS real
LANGUAGE sql VOLATILE STRICT AS $$
    SELECT (coalesce(sum(z.size), 0) + citus_emulation.by_disk_size_base_cost())::real
    FROM pg_catalog.pg_dist_shard s1
         JOIN pg_catalog.pg_dist_partition p1 ON p1.logicalrelid = s1.logicalrelid
         JOIN pg_catalog.pg_dist_partition p2 ON p2.colocationid = p1.colocationid
         JOIN pg_catalog.pg_dist_shard s2 ON s2.logicalrelid = p2.logicalrelid AND s2.shardminvalue = s1.shardminvalue
         JOIN citus_emulation.shard_sizes() z ON z.shardid = s2.shardid
    WHERE s1.shardid = shard_id
$$;

INSERT INTO pg_catalog.pg_dist_rebalance_strategy VALUES
    ('by_shard_count', false, 'citus_shard_cost_1', 'citus_node_capacity_1', 'citus_shard_allowed_on_node_true', 0, 0, 0),
    ('by_disk_size', true, 'citus_shard_cost_by_disk_size', 'citus_node_capacity_1', 'citus_shard_allowed_on_node_true',
     0.1, 0.01, 0.5);

CREATE FUNCTION pg_catalog.citus_add_rebalance_strategy(
    name name, shard_cost_function regproc, node_capacity_function regproc,
    shard_allowed_on_node_function regproc, default_threshold real, minimum_threshold real DEFAULT 0,
    improvement_threshold real DEFAULT 0)
RETURNS void LANGUAGE sql VOLATILE AS $$
    INSERT INTO pg_catalog.pg_dist_rebalance_strategy VALUES
        (name, false, shard_cost_function, node_capacity_function, shard_allowed_on_node_function,
         default_threshold, minimum_threshold, improvement_threshold)
$$;

CREATE FUNCTION citus_emulation.strategy(p_name name) RETURNS pg_catalog.pg_dist_rebalance_strategy
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v pg_catalog.pg_dist_rebalance_strategy;
BEGIN
    IF p_name IS NULL THEN
        SELECT * INTO v FROM pg_catalog.pg_dist_rebalance_strategy WHERE default_strategy;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no rebalance_strategy was provided, but there is also no default strategy set'
                USING ERRCODE = 'internal_error';
        END IF;
    ELSE
        SELECT * INTO v FROM pg_catalog.pg_dist_rebalance_strategy WHERE name = p_name;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'could not find rebalance strategy with name %', p_name USING ERRCODE = 'internal_error';
        END IF;
    END IF;
    RETURN v;
END
$$;

-- DROP TABLE IF EXISTS would send a NOTICE to the client, which reads notices from these calls.
CREATE FUNCTION citus_emulation.drop_temp(p_names text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_name text;
BEGIN
    FOREACH v_name IN ARRAY p_names LOOP
        IF to_regclass('pg_temp.' || quote_ident(v_name)) IS NOT NULL THEN
            EXECUTE format('DROP TABLE pg_temp.%I', v_name);
        END IF;
    END LOOP;
END
$$;

-- One row per shard-group move: the representative shard (first table of its colocation group).
CREATE FUNCTION citus_emulation.plan_moves(
    p_relation regclass, p_threshold real, p_max_moves integer, p_excluded bigint[], p_drain_only boolean,
    p_strategy name, p_improvement real)
RETURNS TABLE (move_no integer, shardid bigint, source_nodeid integer, target_nodeid integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_strategy pg_catalog.pg_dist_rebalance_strategy := citus_emulation.strategy(p_strategy);
    v_threshold float8;
    v_improvement float8;
    v_colocation integer;
    v_rep regclass;
    v_by_size boolean;
    v_shard record;
    v_src record;
    v_tgt record;
    v_avg float8;
    v_moves integer := 0;
    v_should integer;
BEGIN
    v_threshold := coalesce(p_threshold, v_strategy.default_threshold);
    IF v_threshold < v_strategy.minimum_threshold THEN
        RAISE EXCEPTION 'the given threshold is lower than the minimum threshold allowed by the rebalance strategy'
            USING ERRCODE = 'internal_error';
    END IF;
    v_improvement := coalesce(p_improvement, v_strategy.improvement_threshold);
    v_by_size := v_strategy.shard_cost_function = 'pg_catalog.citus_shard_cost_by_disk_size'::regproc;

    PERFORM citus_emulation.drop_temp(ARRAY['citus_plan_node', 'citus_plan_shard', 'citus_plan_move', 'citus_plan_size', 'citus_plan_load']);
    CREATE TEMP TABLE citus_plan_node ON COMMIT DROP AS
    SELECT n.nodeid, n.groupid, n.shouldhaveshards AS should, 1::float8 AS capacity
    FROM pg_catalog.pg_dist_node n
    WHERE n.isactive AND n.noderole = 'primary' AND (n.groupid <> 0 OR n.shouldhaveshards);
    SELECT count(*) INTO v_should FROM citus_plan_node WHERE should;
    IF v_should = 0 THEN
        RAISE EXCEPTION 'Shard replication factor (1) cannot be greater than number of nodes with should_have_shards=true (0).'
            USING ERRCODE = 'internal_error';
    END IF;
    FOR v_src IN SELECT nodeid FROM citus_plan_node WHERE should LOOP
        EXECUTE format('UPDATE citus_plan_node SET capacity = %s($1) WHERE nodeid = $1', v_strategy.node_capacity_function)
        USING v_src.nodeid;
    END LOOP;
    CREATE TEMP TABLE citus_plan_move (move_no serial, shardid bigint, source_nodeid integer, target_nodeid integer)
        ON COMMIT DROP;
    IF v_by_size THEN
        CREATE TEMP TABLE citus_plan_size ON COMMIT DROP AS SELECT * FROM citus_emulation.shard_sizes();
    END IF;

    FOR v_colocation IN
        SELECT DISTINCT p.colocationid FROM pg_catalog.pg_dist_partition p
        WHERE p.partmethod = 'h'
          AND (p_relation IS NULL
               OR p.colocationid = (SELECT q.colocationid FROM pg_catalog.pg_dist_partition q WHERE q.logicalrelid = p_relation))
        ORDER BY 1
    LOOP
        SELECT p.logicalrelid INTO v_rep FROM pg_catalog.pg_dist_partition p
        WHERE p.colocationid = v_colocation ORDER BY p.logicalrelid::oid LIMIT 1;
        PERFORM citus_emulation.drop_temp(ARRAY['citus_plan_shard']);
        CREATE TEMP TABLE citus_plan_shard ON COMMIT DROP AS
        SELECT s.shardid, s.shardminvalue, pl.groupid, 0::float8 AS cost,
               EXISTS (SELECT 1 FROM pg_catalog.pg_dist_shard s2
                       JOIN pg_catalog.pg_dist_partition p2 ON p2.logicalrelid = s2.logicalrelid
                       WHERE p2.colocationid = v_colocation AND s2.shardminvalue = s.shardminvalue
                         AND s2.shardid = ANY (p_excluded)) AS excluded
        FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
        WHERE s.logicalrelid = v_rep;
        IF v_by_size THEN
            UPDATE citus_plan_shard c SET cost = citus_emulation.by_disk_size_base_cost() + coalesce((
                SELECT sum(z.size) FROM pg_catalog.pg_dist_shard s2
                       JOIN pg_catalog.pg_dist_partition p2 ON p2.logicalrelid = s2.logicalrelid
                       JOIN citus_plan_size z ON z.shardid = s2.shardid
                WHERE p2.colocationid = v_colocation AND s2.shardminvalue = c.shardminvalue), 0);
        ELSE
            FOR v_shard IN SELECT c.shardid FROM citus_plan_shard c LOOP
                EXECUTE format('UPDATE citus_plan_shard SET cost = %s($1) WHERE shardid = $1', v_strategy.shard_cost_function)
                USING v_shard.shardid;
            END LOOP;
        END IF;

        -- Drain nodes that should not have shards.
        FOR v_shard IN
            SELECT c.* FROM citus_plan_shard c JOIN citus_plan_node n ON n.groupid = c.groupid
            WHERE NOT n.should AND NOT c.excluded ORDER BY c.cost DESC, c.shardid
        LOOP
            SELECT n.nodeid, n.groupid INTO v_tgt
            FROM citus_plan_node n
            WHERE n.should AND citus_emulation.shard_allowed(v_strategy, v_shard.shardid, n.nodeid)
            ORDER BY ((SELECT coalesce(sum(c.cost), 0) FROM citus_plan_shard c WHERE c.groupid = n.groupid) + v_shard.cost)
                     / n.capacity, n.nodeid
            LIMIT 1;
            CONTINUE WHEN NOT FOUND OR v_moves >= p_max_moves;
            INSERT INTO citus_plan_move (shardid, source_nodeid, target_nodeid)
            SELECT v_shard.shardid, n.nodeid, v_tgt.nodeid FROM citus_plan_node n WHERE n.groupid = v_shard.groupid;
            UPDATE citus_plan_shard SET groupid = v_tgt.groupid WHERE shardid = v_shard.shardid;
            v_moves := v_moves + 1;
        END LOOP;

        CONTINUE WHEN p_drain_only;
        LOOP
            EXIT WHEN v_moves >= p_max_moves;
            PERFORM citus_emulation.drop_temp(ARRAY['citus_plan_load']);
            CREATE TEMP TABLE citus_plan_load ON COMMIT DROP AS
            SELECT n.nodeid, n.groupid, n.capacity,
                   coalesce((SELECT sum(c.cost) FROM citus_plan_shard c WHERE c.groupid = n.groupid), 0) AS load
            FROM citus_plan_node n WHERE n.should;
            SELECT sum(load) / sum(capacity) INTO v_avg FROM citus_plan_load;
            SELECT *, load / capacity AS util INTO v_src FROM citus_plan_load ORDER BY load / capacity DESC, nodeid LIMIT 1;
            SELECT *, load / capacity AS util INTO v_tgt FROM citus_plan_load ORDER BY load / capacity, nodeid LIMIT 1;
            EXIT WHEN v_src.nodeid = v_tgt.nodeid;
            EXIT WHEN v_src.util <= v_avg * (1 + v_threshold) AND v_tgt.util >= v_avg * (1 - v_threshold);
            SELECT c.* INTO v_shard FROM citus_plan_shard c
            WHERE c.groupid = v_src.groupid AND NOT c.excluded
              AND (v_tgt.load + c.cost) / v_tgt.capacity < v_src.util
              AND v_src.util - greatest((v_src.load - c.cost) / v_src.capacity, (v_tgt.load + c.cost) / v_tgt.capacity)
                  >= v_improvement * c.cost / v_src.capacity
              AND citus_emulation.shard_allowed(v_strategy, c.shardid, v_tgt.nodeid)
            ORDER BY c.cost DESC, c.shardid LIMIT 1;
            EXIT WHEN NOT FOUND;
            INSERT INTO citus_plan_move (shardid, source_nodeid, target_nodeid)
            VALUES (v_shard.shardid, v_src.nodeid, v_tgt.nodeid);
            UPDATE citus_plan_shard SET groupid = v_tgt.groupid WHERE shardid = v_shard.shardid;
            v_moves := v_moves + 1;
        END LOOP;
    END LOOP;
    RETURN QUERY SELECT m.move_no, m.shardid, m.source_nodeid, m.target_nodeid FROM citus_plan_move m ORDER BY m.move_no;
END
$$;

CREATE FUNCTION citus_emulation.shard_allowed(p_strategy pg_catalog.pg_dist_rebalance_strategy, p_shardid bigint,
                                              p_nodeid integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_allowed boolean;
BEGIN
    IF p_strategy.shard_allowed_on_node_function = 'pg_catalog.citus_shard_allowed_on_node_true'::regproc THEN
        RETURN true;
    END IF;
    EXECUTE format('SELECT %s($1, $2)', p_strategy.shard_allowed_on_node_function) INTO v_allowed USING p_shardid, p_nodeid;
    RETURN coalesce(v_allowed, false);
END
$$;

CREATE FUNCTION pg_catalog.get_rebalance_table_shards_plan(
    relation regclass DEFAULT NULL, threshold real DEFAULT NULL, max_shard_moves integer DEFAULT 1000000,
    excluded_shard_list bigint[] DEFAULT '{}', drain_only boolean DEFAULT false,
    rebalance_strategy name DEFAULT NULL, improvement_threshold real DEFAULT NULL)
RETURNS TABLE (table_name regclass, shardid bigint, shard_size bigint, sourcename text, sourceport integer,
               targetname text, targetport integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- Planned first (not inside the join): its errors must be raised even when there is no shard.
    v_moves jsonb := (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.move_no), '[]')
                      FROM citus_emulation.plan_moves(relation, threshold, max_shard_moves, excluded_shard_list,
                                                      drain_only, rebalance_strategy, improvement_threshold) p);
BEGIN
    RETURN QUERY
    SELECT s2.logicalrelid, s2.shardid, pl.shardlength, src.nodename, src.nodeport, tgt.nodename, tgt.nodeport
    FROM jsonb_to_recordset(v_moves) AS m(move_no integer, shardid bigint, source_nodeid integer, target_nodeid integer)
         JOIN pg_catalog.pg_dist_shard s1 ON s1.shardid = m.shardid
         JOIN pg_catalog.pg_dist_partition p1 ON p1.logicalrelid = s1.logicalrelid
         JOIN pg_catalog.pg_dist_partition p2 ON p2.colocationid = p1.colocationid
         JOIN pg_catalog.pg_dist_shard s2 ON s2.logicalrelid = p2.logicalrelid AND s2.shardminvalue = s1.shardminvalue
         JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s2.shardid
         JOIN pg_catalog.pg_dist_node src ON src.nodeid = m.source_nodeid
         JOIN pg_catalog.pg_dist_node tgt ON tgt.nodeid = m.target_nodeid
    ORDER BY m.move_no, p2.logicalrelid::oid;
END
$$;
