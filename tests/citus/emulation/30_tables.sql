-- pgshift's Citus emulation, part 3: distributed tables, shards and placements.
--
-- create_distributed_table() turns the table into a hash-partitioned table on the coordinator whose
-- partitions are postgres_fdw foreign tables, one per shard, each on the node holding the shard
-- (schema citus_emulation, named like the shard). Queries on the coordinator therefore really read
-- and write the workers; a shard move really copies rows and re-points the partition.

CREATE FUNCTION citus_emulation.shard_relname(p_shardid bigint) RETURNS name
LANGUAGE sql STABLE AS $$
    SELECT (c.relname || '_' || s.shardid)::name
    FROM pg_catalog.pg_dist_shard s JOIN pg_class c ON c.oid = s.logicalrelid WHERE s.shardid = p_shardid
$$;

CREATE FUNCTION citus_emulation.shard_schema(p_shardid bigint) RETURNS name
LANGUAGE sql STABLE AS $$
    SELECT n.nspname
    FROM pg_catalog.pg_dist_shard s JOIN pg_class c ON c.oid = s.logicalrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE s.shardid = p_shardid
$$;

-- The coordinator's foreign partition standing for a shard.
CREATE FUNCTION citus_emulation.shard_partition(p_shardid bigint) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT format('citus_emulation.%I', citus_emulation.shard_relname(p_shardid)) $$;

-- CREATE TABLE for a shard on a worker: the columns, NOT NULL and the table's constraints.
CREATE FUNCTION citus_emulation.shard_ddl(p_shardid bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_rel regclass;
    v_columns text;
    v_constraints text;
BEGIN
    SELECT logicalrelid INTO STRICT v_rel FROM pg_catalog.pg_dist_shard WHERE shardid = p_shardid;
    SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum)
    INTO v_columns
    FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped;
    -- The coordinator's partitioned table cannot keep unique constraints over foreign partitions,
    -- so they are remembered in citus_emulation.table_constraints and applied to every shard.
    SELECT string_agg(format(', CONSTRAINT %I %s', left(t.conname || '_' || p_shardid, 63), t.condef), '' ORDER BY t.conname)
    INTO v_constraints
    FROM citus_emulation.table_constraints t WHERE t.logicalrelid = v_rel;
    RETURN format('SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS %I; DROP TABLE IF EXISTS %I.%I; CREATE TABLE %I.%I (%s%s)',
                  citus_emulation.shard_schema(p_shardid),
                  citus_emulation.shard_schema(p_shardid), citus_emulation.shard_relname(p_shardid),
                  citus_emulation.shard_schema(p_shardid), citus_emulation.shard_relname(p_shardid),
                  v_columns, coalesce(v_constraints, ''));
END
$$;

CREATE TABLE citus_emulation.table_constraints (
    logicalrelid regclass NOT NULL,
    conname name NOT NULL,
    condef text NOT NULL,
    PRIMARY KEY (logicalrelid, conname)
);

-- A foreign table with the columns of p_rel, on the node of p_nodeid, for shard p_shardid.
CREATE FUNCTION citus_emulation.create_shard_foreign_table(p_rel regclass, p_shardid bigint, p_nodeid integer,
                                                           p_name name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_columns text;
BEGIN
    SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum)
    INTO v_columns
    FROM pg_attribute a WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('CREATE FOREIGN TABLE citus_emulation.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                   p_name, v_columns, citus_emulation.node_server(p_nodeid),
                   citus_emulation.shard_schema(p_shardid), citus_emulation.shard_relname(p_shardid));
END
$$;

CREATE FUNCTION pg_catalog.create_distributed_table(
    table_name regclass, distribution_column text,
    distribution_type citus.distribution_type DEFAULT 'hash', colocate_with text DEFAULT 'default',
    shard_count integer DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_rel regclass := table_name;
    v_schema name;
    v_name name;
    v_owner name;
    v_old name;
    v_count integer := coalesce(shard_count, nullif(current_setting('citus.shard_count', true), '')::integer, 32);
    v_type oid;
    v_collation oid;
    v_groups integer[];
    v_colocation integer;
    v_colocated regclass;
    v_shardids bigint[] := '{}';
    v_shard_groups integer[] := '{}';
    v_shardid bigint;
    v_group integer;
    v_nodeid integer;
    v_node pg_catalog.pg_dist_node;
    v_step bigint;
    v_min bigint;
    v_seq record;
    i integer;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    IF distribution_type <> 'hash' THEN
        RAISE EXCEPTION 'pgshift''s Citus emulation only supports hash distribution' USING ERRCODE = 'feature_not_supported';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = v_rel) THEN
        RAISE EXCEPTION 'table "%" is already distributed', v_rel USING ERRCODE = 'invalid_table_definition';
    END IF;
    SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) INTO v_schema, v_name, v_owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = v_rel AND c.relkind = 'r';
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a regular table', v_rel USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT a.atttypid, a.attcollation INTO v_type, v_collation
    FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attname = distribution_column AND a.attnum > 0
      AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', distribution_column, v_name
            USING ERRCODE = 'undefined_column';
    END IF;
    SELECT array_agg(n.groupid ORDER BY n.nodeid) INTO v_groups FROM pg_catalog.pg_dist_node n
    WHERE n.isactive AND n.noderole = 'primary' AND n.shouldhaveshards AND n.groupid <> 0;
    IF v_groups IS NULL THEN
        RAISE EXCEPTION 'no worker nodes are available for placing shards' USING ERRCODE = 'internal_error',
            HINT = 'Add more worker nodes.';
    END IF;

    -- Colocation as Citus does by default: same shard count, column type and collation.
    IF colocate_with = 'default' THEN
        SELECT c.colocationid INTO v_colocation FROM pg_catalog.pg_dist_colocation c
        WHERE c.shardcount = v_count AND c.replicationfactor = 1 AND c.distributioncolumntype = v_type
          AND c.distributioncolumncollation = v_collation
        ORDER BY c.colocationid LIMIT 1;
    ELSIF colocate_with <> 'none' THEN
        SELECT p.colocationid INTO STRICT v_colocation FROM pg_catalog.pg_dist_partition p
        WHERE p.logicalrelid = colocate_with::regclass;
    END IF;
    IF v_colocation IS NULL THEN
        v_colocation := nextval('pg_catalog.pg_dist_colocationid_seq');
        INSERT INTO pg_catalog.pg_dist_colocation VALUES (v_colocation, v_count, 1, v_type, v_collation);
    ELSE
        SELECT p.logicalrelid INTO v_colocated FROM pg_catalog.pg_dist_partition p
        WHERE p.colocationid = v_colocation ORDER BY p.logicalrelid::oid LIMIT 1;
    END IF;

    -- Shards: hash ranges as Citus splits the int4 space; placement round-robin over the workers,
    -- or next to the colocated table's shard with the same range.
    v_step := 4294967296 / v_count;
    FOR i IN 0 .. v_count - 1 LOOP
        v_shardid := nextval('pg_catalog.pg_dist_shardid_seq');
        v_min := -2147483648 + i * v_step;
        IF v_colocated IS NOT NULL THEN
            SELECT p.groupid INTO STRICT v_group
            FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement p USING (shardid)
            WHERE s.logicalrelid = v_colocated AND s.shardminvalue = v_min::text;
        ELSE
            v_group := v_groups[(i % array_length(v_groups, 1)) + 1];
        END IF;
        v_shardids := v_shardids || v_shardid;
        v_shard_groups := v_shard_groups || v_group;
        INSERT INTO pg_catalog.pg_dist_shard VALUES (v_rel, v_shardid, 't', v_min::text,
            CASE WHEN i = v_count - 1 THEN '2147483647' ELSE (v_min + v_step - 1)::text END);
        INSERT INTO pg_catalog.pg_dist_placement (shardid, shardstate, shardlength, groupid)
        VALUES (v_shardid, 1, 0, v_group);
    END LOOP;
    INSERT INTO citus_emulation.table_constraints
    SELECT v_rel, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
    WHERE c.conrelid = v_rel AND c.contype IN ('p', 'u', 'c');
    FOR i IN 1 .. v_count LOOP
        SELECT * INTO STRICT v_node FROM pg_catalog.pg_dist_node WHERE groupid = v_shard_groups[i] AND noderole = 'primary';
        PERFORM citus_emulation.remote_exec(v_node.nodename, v_node.nodeport, citus_emulation.shard_ddl(v_shardids[i]));
    END LOOP;

    -- The coordinator's table becomes the partitioned "shell"; its rows go to the shards.
    v_old := left(v_name || '_citus_emulation_local', 63);
    EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', v_schema, v_name, v_old);
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING COMMENTS INCLUDING STORAGE) '
                   'PARTITION BY HASH (%I)', v_schema, v_name, v_schema, v_old, distribution_column);
    FOR v_seq IN
        SELECT d.objid::regclass AS seq, a.attname
        FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = format('%I.%I', v_schema, v_old)::regclass AND d.deptype = 'a'
          AND (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'S'
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.%I.%I', v_seq.seq, v_schema, v_name, v_seq.attname);
    END LOOP;
    EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', v_schema, v_name, v_owner);
    v_rel := format('%I.%I', v_schema, v_name)::regclass;
    UPDATE pg_catalog.pg_dist_shard SET logicalrelid = v_rel WHERE shardid = ANY (v_shardids);
    UPDATE citus_emulation.table_constraints SET logicalrelid = v_rel
    WHERE logicalrelid = format('%I.%I', v_schema, v_old)::regclass;
    FOR i IN 1 .. v_count LOOP
        SELECT nodeid INTO STRICT v_nodeid FROM pg_catalog.pg_dist_node WHERE groupid = v_shard_groups[i] AND noderole = 'primary';
        PERFORM citus_emulation.create_shard_foreign_table(v_rel, v_shardids[i], v_nodeid,
                                                           citus_emulation.shard_relname(v_shardids[i]));
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       v_rel, citus_emulation.shard_partition(v_shardids[i]), v_count, i - 1);
    END LOOP;
    EXECUTE format('INSERT INTO %s SELECT * FROM %I.%I', v_rel, v_schema, v_old);
    EXECUTE format('DROP TABLE %I.%I', v_schema, v_old);
    INSERT INTO pg_catalog.pg_dist_partition VALUES (v_rel, 'h', distribution_column, v_colocation, 's', false);
END
$$;

-- Sizes of the placements, read on each node; an unreachable node is a WARNING and no rows, as in
-- citus_shards when a worker is down (B_default_03).
CREATE FUNCTION citus_emulation.shard_sizes() RETURNS TABLE (shardid bigint, groupid integer, size bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_node record;
    v_rows jsonb;
BEGIN
    -- Every active worker is asked, holding shards or not (Citus warns about each one it cannot reach).
    FOR v_node IN
        SELECT n.nodename, n.nodeport, n.groupid,
               string_agg(format('(%s::bigint, %L::name, %L::name)', p.shardid, citus_emulation.shard_schema(p.shardid),
                                 citus_emulation.shard_relname(p.shardid)), ', ')
                   FILTER (WHERE p.shardid IS NOT NULL) AS shards
        FROM pg_catalog.pg_dist_node n LEFT JOIN pg_catalog.pg_dist_placement p ON p.groupid = n.groupid
        WHERE n.noderole = 'primary' AND n.isactive AND (n.groupid <> 0 OR p.shardid IS NOT NULL)
        GROUP BY n.nodename, n.nodeport, n.groupid
    LOOP
        BEGIN
            v_rows := citus_emulation.remote_json(v_node.nodename, v_node.nodeport, format(
                'SELECT s.shardid, coalesce(pg_total_relation_size(c.oid), 0) AS size FROM (VALUES %s) s(shardid, nsp, rel) '
                'LEFT JOIN pg_namespace n ON n.nspname = s.nsp LEFT JOIN pg_class c ON c.relname = s.rel '
                'AND c.relnamespace = n.oid', coalesce(v_node.shards, '(NULL::bigint, NULL::name, NULL::name)')));
            RETURN QUERY SELECT (e ->> 'shardid')::bigint, v_node.groupid, (e ->> 'size')::bigint
                         FROM jsonb_array_elements(v_rows) e;
        EXCEPTION WHEN connection_failure THEN
            RAISE WARNING '%', SQLERRM;
        END;
    END LOOP;
END
$$;

CREATE VIEW citus.citus_shards AS
SELECT s.logicalrelid AS table_name,
       s.shardid,
       CASE WHEN n.nspname = 'public' THEN c.relname || '_' || s.shardid
            ELSE n.nspname || '.' || c.relname || '_' || s.shardid END AS shard_name,
       CASE p.partmethod WHEN 'h' THEN 'distributed' WHEN 'n' THEN 'reference' ELSE 'local' END AS citus_table_type,
       p.colocationid AS colocation_id,
       nd.nodename,
       nd.nodeport,
       sz.size AS shard_size
FROM pg_catalog.pg_dist_shard s
     JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
     JOIN pg_class c ON c.oid = s.logicalrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
     JOIN pg_catalog.pg_dist_node nd ON nd.groupid = pl.groupid AND nd.noderole = 'primary'
     LEFT JOIN citus_emulation.shard_sizes() sz ON sz.shardid = s.shardid AND sz.groupid = pl.groupid;
ALTER VIEW citus.citus_shards SET SCHEMA pg_catalog;
