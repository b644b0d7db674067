-- pgshift's Citus emulation, part 1: connections to other nodes (dblink), with Citus's errors.

-- A libpq keyword value, quoted.
CREATE FUNCTION citus_emulation.conninfo_value(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '''' || replace(replace(v, '\', '\\'), '''', '\''') || '''' $$;

-- What Citus adds to a node connection from pg_dist_authinfo: the node's row, else nodeid 0 (all).
CREATE FUNCTION citus_emulation.authinfo(p_nodeid integer) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT a.authinfo FROM pg_catalog.pg_dist_authinfo a
    WHERE a.nodeid IN (0, p_nodeid) AND a.rolename IN (CURRENT_USER, '')
    ORDER BY a.nodeid = p_nodeid DESC, a.rolename = CURRENT_USER DESC
    LIMIT 1
$$;

CREATE FUNCTION citus_emulation.conninfo(p_host text, p_port integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_nodeid integer;
    v_timeout_ms integer := coalesce(nullif(current_setting('citus.node_connection_timeout', true), ''), '30000')::integer;
BEGIN
    SELECT n.nodeid INTO v_nodeid FROM pg_catalog.pg_dist_node n WHERE n.nodename = p_host AND n.nodeport = p_port;
    RETURN concat_ws(' ',
        'host=' || citus_emulation.conninfo_value(p_host),
        'port=' || p_port,
        'dbname=' || citus_emulation.conninfo_value(current_database()),
        'user=' || citus_emulation.conninfo_value(CURRENT_USER),
        'connect_timeout=' || greatest(1, ceil(v_timeout_ms / 1000.0)::integer),
        'application_name=citus_emulation',
        citus_emulation.authinfo(coalesce(v_nodeid, 0)));
END
$$;

-- Loopback: the emulated background executor and progress writes connect to this very server.
CREATE FUNCTION citus_emulation.loopback_conninfo() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_host text;
    v_port integer;
BEGIN
    SELECT n.nodename, n.nodeport INTO v_host, v_port FROM pg_catalog.pg_dist_node n WHERE n.groupid = 0 LIMIT 1;
    IF v_host IS NULL THEN
        v_host := coalesce(host(inet_server_addr()), '127.0.0.1');
        v_port := current_setting('port')::integer;
    END IF;
    RETURN concat_ws(' ',
        'host=' || citus_emulation.conninfo_value(v_host),
        'port=' || v_port,
        'dbname=' || citus_emulation.conninfo_value(current_database()),
        'user=' || citus_emulation.conninfo_value(CURRENT_USER),
        'application_name=citus_emulation',
        coalesce(citus_emulation.authinfo(-1), citus_emulation.authinfo(0)));
END
$$;

-- Citus: "connection to the remote node postgres@127.0.0.1:9799 failed with the following error:
-- Connection refused\n\tIs the server running ..." (A_11): libpq's message without its own prefix.
CREATE FUNCTION citus_emulation.connection_error(p_host text, p_port integer, p_libpq text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('connection to the remote node %s@%s:%s failed with the following error: %s',
                  CURRENT_USER, p_host, p_port,
                  rtrim(regexp_replace(coalesce(p_libpq, ''),
                                       '^connection to server at "[^"]*"( \([^)]*\))?, port [0-9]+ failed: ', ''),
                        E'\n'))
$$;

-- Rows of p_sql run on a node, as a jsonb array. A connection failure is Citus's 08006.
CREATE FUNCTION citus_emulation.remote_json(p_host text, p_port integer, p_sql text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_result text;
    v_detail text;
BEGIN
    SELECT r.j INTO v_result
    FROM citus_emulation.dblink(citus_emulation.conninfo(p_host, p_port),
                                format('SELECT coalesce(jsonb_agg(to_jsonb(q)), ''[]''::jsonb)::text FROM (%s) q',
                                       p_sql)) AS r(j text);
    RETURN v_result::jsonb;
EXCEPTION WHEN sqlclient_unable_to_establish_sqlconnection THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION USING ERRCODE = 'connection_failure',
        MESSAGE = citus_emulation.connection_error(p_host, p_port, v_detail);
END
$$;

CREATE FUNCTION citus_emulation.remote_exec(p_host text, p_port integer, p_sql text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_detail text;
BEGIN
    PERFORM citus_emulation.dblink_exec(citus_emulation.conninfo(p_host, p_port), p_sql);
EXCEPTION WHEN sqlclient_unable_to_establish_sqlconnection THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION USING ERRCODE = 'connection_failure',
        MESSAGE = citus_emulation.connection_error(p_host, p_port, v_detail);
END
$$;

-- Runs p_sql on this server in its own transaction, committed at once, through one loopback
-- connection kept per session: progress and cleanup records must outlive a failing move.
CREATE FUNCTION citus_emulation.autonomous(p_sql text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT coalesce('citus_emulation_loopback' = ANY (citus_emulation.dblink_get_connections()), false) THEN
        PERFORM citus_emulation.dblink_connect('citus_emulation_loopback', citus_emulation.loopback_conninfo());
    END IF;
    PERFORM citus_emulation.dblink_exec('citus_emulation_loopback', p_sql);
END
$$;
