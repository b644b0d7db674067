-- pgshift's Citus emulation, part 0: types, catalog tables, sequences, settings.
--
-- NOT Citus. A SQL stand-in for the contract recorded from Citus 13.2.2 in
-- ../shared/citus-transcripts, installed as extension "citus" (13.2-1) into a plain PostgreSQL
-- server by the tests (tests/citus/citus_servers.py), because real Citus cannot be installed here.
-- Shards are real tables on other PostgreSQL servers; the coordinator reaches them through
-- postgres_fdw (reads, writes) and dblink (DDL, sizes). Names follow Citus; the emulation's own
-- objects live in schema citus_emulation, which the installer creates with dblink and postgres_fdw.

CREATE SCHEMA citus;
-- In Citus's order: queries that sort by type (OID) list them as A_02 does.
CREATE TYPE citus.distribution_type AS ENUM ('hash', 'range', 'append');
CREATE TYPE citus.shard_transfer_mode AS ENUM ('auto', 'force_logical', 'block_writes');
CREATE TYPE pg_catalog.citus_copy_format AS ENUM ('csv', 'binary');
CREATE TYPE pg_catalog.citus_job_status AS ENUM
    ('scheduled', 'running', 'finished', 'cancelling', 'cancelled', 'failing', 'failed');
CREATE TYPE pg_catalog.citus_task_status AS ENUM
    ('blocked', 'runnable', 'running', 'done', 'cancelling', 'error', 'unscheduled', 'cancelled');
CREATE TYPE pg_catalog.noderole AS ENUM ('primary', 'secondary', 'unavailable');

-- Relations cannot be created in pg_catalog directly; like Citus, create them in schema citus and
-- move them (ALTER ... SET SCHEMA), so that unqualified names resolve whatever the search_path.
CREATE SEQUENCE citus.pg_dist_node_nodeid_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_groupid_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_shardid_seq MINVALUE 102008 START 102008;
CREATE SEQUENCE citus.pg_dist_placement_placementid_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_colocationid_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_background_job_job_id_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_background_task_task_id_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_cleanup_recordid_seq MINVALUE 1;
CREATE SEQUENCE citus.pg_dist_operationid_seq MINVALUE 1;

CREATE TABLE citus.pg_dist_node (
    nodeid integer NOT NULL DEFAULT nextval('citus.pg_dist_node_nodeid_seq') PRIMARY KEY,
    groupid integer NOT NULL DEFAULT nextval('citus.pg_dist_groupid_seq'),
    nodename text NOT NULL,
    nodeport integer NOT NULL DEFAULT 5432,
    noderack text NOT NULL DEFAULT 'default',
    hasmetadata boolean NOT NULL DEFAULT false,
    isactive boolean NOT NULL DEFAULT true,
    noderole noderole NOT NULL DEFAULT 'primary',
    nodecluster name NOT NULL DEFAULT 'default',
    metadatasynced boolean DEFAULT false,
    shouldhaveshards boolean NOT NULL DEFAULT true,
    nodeisclone boolean NOT NULL DEFAULT false,
    nodeprimarynodeid integer NOT NULL DEFAULT 0,
    UNIQUE (nodename, nodeport)
);

CREATE TABLE citus.pg_dist_local_group (groupid integer NOT NULL);
INSERT INTO citus.pg_dist_local_group VALUES (0);

CREATE TABLE citus.pg_dist_colocation (
    colocationid integer NOT NULL PRIMARY KEY,
    shardcount integer NOT NULL,
    replicationfactor integer NOT NULL,
    distributioncolumntype oid NOT NULL,
    distributioncolumncollation oid NOT NULL
);

CREATE TABLE citus.pg_dist_partition (
    logicalrelid regclass NOT NULL PRIMARY KEY,
    partmethod "char" NOT NULL,
    partkey text,
    colocationid integer NOT NULL DEFAULT 0,
    repmodel "char" NOT NULL DEFAULT 'c',
    autoconverted boolean DEFAULT false
);

CREATE TABLE citus.pg_dist_shard (
    logicalrelid regclass NOT NULL,
    shardid bigint NOT NULL PRIMARY KEY,
    shardstorage "char" NOT NULL,
    shardminvalue text,
    shardmaxvalue text
);

CREATE TABLE citus.pg_dist_placement (
    placementid bigint NOT NULL DEFAULT nextval('citus.pg_dist_placement_placementid_seq') PRIMARY KEY,
    shardid bigint NOT NULL,
    shardstate integer NOT NULL,
    shardlength bigint NOT NULL,
    groupid integer NOT NULL
);

CREATE TABLE citus.pg_dist_background_job (
    job_id bigint NOT NULL DEFAULT nextval('citus.pg_dist_background_job_job_id_seq') PRIMARY KEY,
    state citus_job_status NOT NULL DEFAULT 'scheduled',
    job_type name NOT NULL,
    description text NOT NULL,
    started_at timestamptz,
    finished_at timestamptz
);

CREATE TABLE citus.pg_dist_background_task (
    job_id bigint NOT NULL REFERENCES citus.pg_dist_background_job (job_id),
    task_id bigint NOT NULL DEFAULT nextval('citus.pg_dist_background_task_task_id_seq') PRIMARY KEY,
    owner regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    pid integer,
    status citus_task_status NOT NULL DEFAULT 'runnable',
    command text NOT NULL,
    retry_count integer,
    not_before timestamptz,
    message text NOT NULL DEFAULT '',
    nodes_involved integer[]
);

CREATE TABLE citus.pg_dist_background_task_depend (
    job_id bigint NOT NULL,
    task_id bigint NOT NULL,
    depends_on bigint NOT NULL,
    PRIMARY KEY (job_id, task_id, depends_on)
);

CREATE TABLE citus.pg_dist_cleanup (
    record_id bigint NOT NULL PRIMARY KEY,
    operation_id bigint NOT NULL,
    object_type integer NOT NULL,
    object_name text NOT NULL,
    node_group_id integer NOT NULL,
    policy_type integer NOT NULL
);

CREATE TABLE citus.pg_dist_rebalance_strategy (
    name name NOT NULL PRIMARY KEY,
    default_strategy boolean NOT NULL DEFAULT false,
    shard_cost_function regproc NOT NULL,
    node_capacity_function regproc NOT NULL,
    shard_allowed_on_node_function regproc NOT NULL,
    default_threshold float4 NOT NULL,
    minimum_threshold float4 NOT NULL DEFAULT 0,
    improvement_threshold float4 NOT NULL DEFAULT 0
);

-- Citus reads passwords for its node connections from here (nodeid 0: every node; -1: loopback).
CREATE TABLE citus.pg_dist_authinfo (
    nodeid integer NOT NULL,
    rolename name NOT NULL,
    authinfo text NOT NULL,
    PRIMARY KEY (nodeid, rolename)
);

DO $move$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname, c.relkind FROM pg_class c
             WHERE c.relnamespace = 'citus'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY c.relkind
    LOOP
        EXECUTE format('ALTER %s citus.%I SET SCHEMA pg_catalog',
                       CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.relname);
    END LOOP;
END
$move$;

-- The emulation's own knobs (tests shorten moves and retries); Citus has no such table.
CREATE TABLE citus_emulation.settings (
    name text PRIMARY KEY,
    value text NOT NULL,
    description text NOT NULL
);
INSERT INTO citus_emulation.settings VALUES
    ('move_seconds', '2', 'wall-clock seconds one emulated shard move lasts (Citus: ~6 s for 2.7 MB)'),
    ('task_max_retries', '32', 'a failing task becomes error on the retry after this many (Citus: 32)'),
    ('retry_backoff_seconds', '5,20,60', 'delay before retry n; the last value repeats (Citus: 5, 20, then 60 s)'),
    ('runner_poll_seconds', '0.1', 'how often the emulated background task executor looks for work'),
    ('runner_start_delay_seconds', '1', 'a new job stays scheduled this long (Citus: ~1.5 s in A_16)'),
    ('clone_catchup_poll_seconds', '5', 'citus_promote_clone_and_rebalance re-checks a lagging clone this often (Citus: 5 s, F_06)');

-- What get_rebalance_progress() reads; Citus keeps it in shared memory, the emulation writes it
-- from the moving session through a loopback connection so that others see it before commit.
CREATE TABLE citus_emulation.rebalance_progress (
    sessionid integer NOT NULL,
    table_name regclass NOT NULL,
    shardid bigint NOT NULL,
    shard_size bigint NOT NULL DEFAULT 0,
    sourcename text NOT NULL,
    sourceport integer NOT NULL,
    targetname text NOT NULL,
    targetport integer NOT NULL,
    progress bigint NOT NULL DEFAULT 0,
    source_shard_size bigint NOT NULL DEFAULT 0,
    target_shard_size bigint NOT NULL DEFAULT 0,
    operation_type text NOT NULL DEFAULT 'move',
    source_lsn pg_lsn,
    target_lsn pg_lsn,
    status text NOT NULL,
    PRIMARY KEY (sessionid, shardid)
);

-- The backend that executes a job's tasks (the emulated background task queue executor).
CREATE TABLE citus_emulation.job_runner (
    job_id bigint PRIMARY KEY,
    pid integer NOT NULL
);

CREATE FUNCTION citus_emulation.setting(p_name text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT value FROM citus_emulation.settings WHERE name = p_name $$;
