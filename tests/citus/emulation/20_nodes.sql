-- pgshift's Citus emulation, part 2: nodes (pg_dist_node), as seen from the coordinator.

CREATE FUNCTION pg_catalog.citus_version() RETURNS text
LANGUAGE sql VOLATILE STRICT AS $$
    SELECT 'Citus 13.2.2 on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit'::text
$$;

-- Citus: local group 0 and at least one active node in the metadata (a fresh node is not one).
CREATE FUNCTION pg_catalog.citus_is_coordinator() RETURNS boolean
LANGUAGE sql VOLATILE STRICT AS $$
    SELECT (SELECT groupid FROM pg_catalog.pg_dist_local_group LIMIT 1) = 0
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node WHERE isactive)
$$;

CREATE FUNCTION citus_emulation.ensure_coordinator() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT groupid FROM pg_catalog.pg_dist_local_group LIMIT 1) <> 0 THEN
        RAISE EXCEPTION 'operation is not allowed on this node'
            USING ERRCODE = 'internal_error', HINT = 'Connect to the coordinator and run it again.';
    END IF;
END
$$;

-- One postgres_fdw server per node: the coordinator's partitions of a distributed table are
-- foreign tables on the node that holds each shard.
CREATE FUNCTION citus_emulation.node_server(p_nodeid integer) RETURNS name
LANGUAGE plpgsql AS $$
DECLARE
    v_server name := 'citus_node_' || p_nodeid;
    v_node pg_catalog.pg_dist_node;
    v_password text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = v_server) THEN
        RETURN v_server;
    END IF;
    SELECT * INTO STRICT v_node FROM pg_catalog.pg_dist_node WHERE nodeid = p_nodeid;
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS '
                   '(host %L, port %L, dbname %L, batch_size ''500'', fetch_size ''5000'', '
                   'application_name ''citus_emulation'')',
                   v_server, v_node.nodename, v_node.nodeport::text, current_database());
    v_password := substring(citus_emulation.authinfo(p_nodeid) FROM 'password=''?([^'' ]*)');
    IF v_password IS NULL THEN
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L)', v_server, CURRENT_USER);
    ELSE
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L, password %L)',
                       v_server, CURRENT_USER, v_password);
    END IF;
    RETURN v_server;
END
$$;

CREATE FUNCTION pg_catalog.citus_set_coordinator_host(
    host text, port integer DEFAULT current_setting('port')::integer,
    node_role noderole DEFAULT 'primary', node_cluster name DEFAULT 'default')
RETURNS void LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    UPDATE pg_catalog.pg_dist_node SET nodename = host, nodeport = port WHERE groupid = 0;
    IF NOT FOUND THEN
        INSERT INTO pg_catalog.pg_dist_node
            (groupid, nodename, nodeport, hasmetadata, isactive, noderole, nodecluster, metadatasynced,
             shouldhaveshards)
        VALUES (0, host, port, true, true, node_role, node_cluster, true, false);
    END IF;
END
$$;

CREATE FUNCTION pg_catalog.citus_add_node(
    nodename text, nodeport integer, groupid integer DEFAULT -1,
    noderole noderole DEFAULT 'primary', nodecluster name DEFAULT 'default')
RETURNS integer LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_nodeid integer;
    v_remote jsonb;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    -- Already added: its nodeid, silently, whatever groupid is passed (A_10).
    SELECT n.nodeid INTO v_nodeid FROM pg_catalog.pg_dist_node n
    WHERE n.nodename = citus_add_node.nodename AND n.nodeport = citus_add_node.nodeport;
    IF FOUND THEN
        RETURN v_nodeid;
    END IF;
    -- Unreachable: 08006 and nothing recorded (A_11).
    v_remote := citus_emulation.remote_json(nodename, nodeport,
        'SELECT (SELECT extversion FROM pg_extension WHERE extname = ''citus'') AS extversion');
    IF v_remote -> 0 ->> 'extversion' IS NULL THEN
        RAISE EXCEPTION 'citus extension is not installed on node %:%', nodename, nodeport
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'This is pgshift''s Citus emulation; real Citus needs citus in shared_preload_libraries there.';
    END IF;
    INSERT INTO pg_catalog.pg_dist_node AS n
        (groupid, nodename, nodeport, hasmetadata, isactive, noderole, nodecluster, metadatasynced,
         shouldhaveshards)
    VALUES (CASE WHEN citus_add_node.groupid = -1 THEN nextval('pg_catalog.pg_dist_groupid_seq')::integer
                 ELSE citus_add_node.groupid END,
            nodename, nodeport, true, true, noderole, nodecluster, true, true)
    RETURNING n.nodeid INTO v_nodeid;
    PERFORM citus_emulation.node_server(v_nodeid);
    RETURN v_nodeid;
END
$$;

CREATE FUNCTION pg_catalog.citus_remove_node(nodename text, nodeport integer)
RETURNS void LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_node pg_catalog.pg_dist_node;
    v_shard record;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT * INTO v_node FROM pg_catalog.pg_dist_node n
    WHERE n.nodename = citus_remove_node.nodename AND n.nodeport = citus_remove_node.nodeport;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node at "%:%" does not exist', nodename, nodeport USING ERRCODE = 'internal_error';
    END IF;
    SELECT p.shardid, s.logicalrelid INTO v_shard
    FROM pg_catalog.pg_dist_placement p JOIN pg_catalog.pg_dist_shard s USING (shardid)
    WHERE p.groupid = v_node.groupid ORDER BY p.shardid LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot remove or disable the node %:% because because it contains the only shard placement for shard %',
            nodename, nodeport, v_shard.shardid
            USING ERRCODE = 'internal_error',
                  DETAIL = format('One of the table(s) that prevents the operation complete successfully is %s',
                                  v_shard.logicalrelid);
    END IF;
    DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = v_node.nodeid;
    EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', 'citus_node_' || v_node.nodeid);
END
$$;

CREATE FUNCTION pg_catalog.citus_set_node_property(nodename text, nodeport integer, property text, value boolean)
RETURNS void LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    IF property <> 'shouldhaveshards' THEN
        RAISE EXCEPTION 'only the ''shouldhaveshards'' property can be set using this function'
            USING ERRCODE = 'internal_error';
    END IF;
    UPDATE pg_catalog.pg_dist_node n SET shouldhaveshards = value
    WHERE n.nodename = citus_set_node_property.nodename AND n.nodeport = citus_set_node_property.nodeport;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node at "%:%" does not exist', nodename, nodeport USING ERRCODE = 'internal_error';
    END IF;
END
$$;

CREATE FUNCTION pg_catalog.citus_get_active_worker_nodes(OUT node_name text, OUT node_port bigint)
RETURNS SETOF record LANGUAGE sql VOLATILE STRICT AS $$
    SELECT n.nodename, n.nodeport::bigint FROM pg_catalog.pg_dist_node n
    WHERE n.isactive AND n.noderole = 'primary' AND n.groupid <> 0
$$;

CREATE FUNCTION citus_emulation.node_reachable(p_host text, p_port integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_message text;
BEGIN
    PERFORM citus_emulation.remote_json(p_host, p_port, 'SELECT 1');
    RETURN true;
EXCEPTION WHEN connection_failure THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
    RAISE WARNING '%', v_message;
    RETURN false;
END
$$;

-- The emulation reaches every node from the coordinator only: a pair (from, to) is healthy when
-- both answer, unknown (NULL) when "from" does not (as Citus reports it, A_23 / B_default_03).
CREATE FUNCTION pg_catalog.citus_check_cluster_node_health(
    OUT from_nodename text, OUT from_nodeport integer, OUT to_nodename text, OUT to_nodeport integer,
    OUT result boolean)
RETURNS SETOF record LANGUAGE sql VOLATILE STRICT AS $$
    WITH nodes AS (
        SELECT n.nodename, n.nodeport,
               CASE WHEN n.groupid = 0 THEN true ELSE citus_emulation.node_reachable(n.nodename, n.nodeport) END AS up
        FROM pg_catalog.pg_dist_node n WHERE n.isactive
    )
    SELECT f.nodename, f.nodeport, t.nodename, t.nodeport, CASE WHEN f.up THEN t.up END
    FROM nodes f CROSS JOIN nodes t
$$;
