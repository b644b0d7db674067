-- pgshift's Citus emulation, part 6: background rebalance jobs.
--
-- citus_rebalance_start() schedules a job (pg_dist_background_job/_task/_task_depend) and hands it to
-- an emulated background task executor: a second backend on this server, started through a dblink
-- connection with dblink_send_query() and left running after the caller has gone. It runs the
-- tasks one at a time (Citus's citus.max_background_task_executors defaults to 1), commits between
-- steps so that every session sees scheduled -> running -> finished, retries failed tasks with a
-- backoff and ends failed, or cancelled by citus_rebalance_stop()/citus_job_cancel().

CREATE FUNCTION citus_emulation.terminal(p_state citus_job_status) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT p_state IN ('finished', 'cancelled', 'failed') $$;

-- The job state as Citus derives it from its tasks (A_16, B_default_02, B_staggered_02).
CREATE FUNCTION citus_emulation.refresh_job_state(p_job bigint) RETURNS citus_job_status
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_state citus_job_status;
    v_new citus_job_status;
    c record;
BEGIN
    SELECT state INTO v_state FROM pg_catalog.pg_dist_background_job WHERE job_id = p_job FOR UPDATE;
    IF citus_emulation.terminal(v_state) THEN
        RETURN v_state;
    END IF;
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'done') AS done,
           count(*) FILTER (WHERE status = 'error') AS error,
           count(*) FILTER (WHERE status IN ('running', 'runnable', 'blocked')) AS pending,
           count(*) FILTER (WHERE status IN ('cancelled', 'cancelling')) AS cancelled,
           count(*) FILTER (WHERE status = 'running' OR status = 'done' OR retry_count > 0) AS started
    INTO c FROM pg_catalog.pg_dist_background_task WHERE job_id = p_job;
    v_new := CASE
        WHEN c.total = c.done THEN 'finished'
        WHEN c.error > 0 AND c.pending > 0 THEN 'failing'
        WHEN c.error > 0 THEN 'failed'
        WHEN c.cancelled > 0 AND c.pending = 0 THEN 'cancelled'
        WHEN c.started > 0 THEN 'running'
        ELSE v_state END;
    IF v_new IS DISTINCT FROM v_state THEN
        UPDATE pg_catalog.pg_dist_background_job
        SET state = v_new,
            started_at = coalesce(started_at, CASE WHEN v_new <> 'scheduled' THEN clock_timestamp() END),
            finished_at = CASE WHEN citus_emulation.terminal(v_new) THEN clock_timestamp() END
        WHERE job_id = p_job;
    END IF;
    RETURN v_new;
END
$$;

-- Tasks that can no longer run because a task they depend on failed (directly or not).
CREATE FUNCTION citus_emulation.unschedule_dependents(p_job bigint, p_task bigint) RETURNS void
LANGUAGE sql VOLATILE AS $$
    WITH RECURSIVE dependents(task_id) AS (
        SELECT d.task_id FROM pg_catalog.pg_dist_background_task_depend d
        WHERE d.job_id = p_job AND d.depends_on = p_task
        UNION
        SELECT d.task_id FROM pg_catalog.pg_dist_background_task_depend d JOIN dependents x ON d.depends_on = x.task_id
        WHERE d.job_id = p_job
    )
    UPDATE pg_catalog.pg_dist_background_task t SET status = 'unscheduled'
    FROM dependents x WHERE t.task_id = x.task_id AND t.status IN ('blocked', 'runnable')
$$;

CREATE FUNCTION citus_emulation.retry_backoff(p_retry integer) RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT make_interval(secs => b[least(p_retry, array_length(b, 1))])
    FROM (SELECT string_to_array(citus_emulation.setting('retry_backoff_seconds'), ',')::float8[] AS b) s
$$;

-- The emulated background task executor for one job. Runs in its own backend (see launch_runner).
CREATE PROCEDURE citus_emulation.run_job(p_job bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_task pg_catalog.pg_dist_background_task;
    v_ok boolean;
    v_message text;
    v_hint text;
    v_state citus_job_status;
    v_waited integer := 0;
BEGIN
    -- One executor per job: a second one (see ensure_runner) leaves at once.
    IF NOT pg_try_advisory_lock(hashtext('citus_emulation.job'), p_job::integer) THEN
        RETURN;
    END IF;
    -- The job becomes visible when the caller's transaction commits; a rolled-back start never does.
    LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_dist_background_job WHERE job_id = p_job);
        v_waited := v_waited + 1;
        IF v_waited > 600 THEN
            RETURN;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_background_job WHERE job_id = p_job AND state = 'scheduled') THEN
        PERFORM pg_sleep(citus_emulation.setting('runner_start_delay_seconds')::float8);
    END IF;
    INSERT INTO citus_emulation.job_runner VALUES (p_job, pg_backend_pid())
    ON CONFLICT (job_id) DO UPDATE SET pid = excluded.pid;
    -- A task left running by an executor that died is run again, as Citus does.
    UPDATE pg_catalog.pg_dist_background_task SET status = 'runnable', pid = NULL
    WHERE job_id = p_job AND status = 'running';
    COMMIT;
    LOOP
        SELECT state INTO v_state FROM pg_catalog.pg_dist_background_job WHERE job_id = p_job;
        EXIT WHEN citus_emulation.terminal(v_state) OR v_state = 'cancelling';
        SELECT * INTO v_task FROM pg_catalog.pg_dist_background_task
        WHERE job_id = p_job AND status = 'runnable' AND coalesce(not_before, '-infinity') <= clock_timestamp()
        ORDER BY task_id LIMIT 1;
        IF NOT FOUND THEN
            v_state := citus_emulation.refresh_job_state(p_job);
            COMMIT;
            EXIT WHEN citus_emulation.terminal(v_state);
            PERFORM pg_sleep(citus_emulation.setting('runner_poll_seconds')::float8);
            CONTINUE;
        END IF;
        UPDATE pg_catalog.pg_dist_background_task SET status = 'running', pid = pg_backend_pid()
        WHERE task_id = v_task.task_id;
        PERFORM citus_emulation.refresh_job_state(p_job);
        COMMIT;

        v_ok := true;
        BEGIN
            EXECUTE v_task.command;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_hint = PG_EXCEPTION_HINT;
            v_ok := false;
        END;
        IF NOT v_ok THEN
            -- postgres_fdw cannot commit a transaction whose remote connection broke: start afresh.
            ROLLBACK;
        END IF;
        IF v_ok THEN
            UPDATE pg_catalog.pg_dist_background_task SET status = 'done', pid = NULL, message = E'SELECT 1\n'
            WHERE task_id = v_task.task_id;
            UPDATE pg_catalog.pg_dist_background_task t SET status = 'runnable'
            WHERE t.job_id = p_job AND t.status = 'blocked'
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_background_task_depend d
                              JOIN pg_catalog.pg_dist_background_task x ON x.task_id = d.depends_on
                              WHERE d.task_id = t.task_id AND x.status <> 'done');
        ELSE
            v_message := 'ERROR: ' || v_message || E'\n'
                || CASE WHEN coalesce(v_hint, '') <> '' THEN 'HINT: ' || v_hint || E'\n' ELSE '' END
                || format(E'CONTEXT: Citus Background Task Queue Executor: %s/%s for (%s/%s)\n',
                          current_database(), CURRENT_USER, p_job, v_task.task_id);
            UPDATE pg_catalog.pg_dist_background_task t
            SET retry_count = coalesce(t.retry_count, 0) + 1, pid = NULL, message = v_message,
                status = CASE WHEN coalesce(t.retry_count, 0) + 1 > citus_emulation.setting('task_max_retries')::integer
                              THEN 'error' ELSE 'runnable' END::citus_task_status,
                not_before = CASE WHEN coalesce(t.retry_count, 0) + 1 > citus_emulation.setting('task_max_retries')::integer
                                  THEN NULL
                                  ELSE clock_timestamp() + citus_emulation.retry_backoff(coalesce(t.retry_count, 0) + 1) END
            WHERE t.task_id = v_task.task_id;
            IF (SELECT status FROM pg_catalog.pg_dist_background_task WHERE task_id = v_task.task_id) = 'error' THEN
                PERFORM citus_emulation.unschedule_dependents(p_job, v_task.task_id);
            END IF;
        END IF;
        PERFORM citus_emulation.refresh_job_state(p_job);
        COMMIT;
        PERFORM citus_emulation.autonomous(format('DELETE FROM citus_emulation.rebalance_progress WHERE sessionid = %s',
                                                  pg_backend_pid()));
        PERFORM citus_emulation.process_cleanup();
        COMMIT;
    END LOOP;
    DELETE FROM citus_emulation.job_runner WHERE job_id = p_job;
    COMMIT;
    PERFORM pg_advisory_unlock(hashtext('citus_emulation.job'), p_job::integer);
END
$$;

-- Citus's maintenance daemon restarts the task executor; here whoever reads a job's status does.
CREATE FUNCTION citus_emulation.ensure_runner(p_job bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_job IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_background_job
                                    WHERE job_id = p_job AND NOT citus_emulation.terminal(state)) THEN
        RETURN;
    END IF;
    IF pg_try_advisory_lock(hashtext('citus_emulation.job'), p_job::integer) THEN
        PERFORM pg_advisory_unlock(hashtext('citus_emulation.job'), p_job::integer);
        PERFORM citus_emulation.launch_runner(p_job);
    END IF;
END
$$;

CREATE FUNCTION citus_emulation.launch_runner(p_job bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_name text := 'citus_emulation_job_' || p_job || '_' || pg_backend_pid() || '_'
                   || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_old text;
BEGIN
    -- Executors launched earlier from this session that are done: close their connections.
    FOR v_old IN SELECT c FROM unnest(citus_emulation.dblink_get_connections()) c
                 WHERE c LIKE 'citus\_emulation\_job\_%' LOOP
        IF citus_emulation.dblink_is_busy(v_old) = 0 THEN
            PERFORM citus_emulation.dblink_disconnect(v_old);
        END IF;
    END LOOP;
    -- Notices to a client that has gone would end the runner; it reports through the tables.
    PERFORM citus_emulation.dblink_connect(v_name, citus_emulation.loopback_conninfo()
        || ' options=''-c client_min_messages=error -c statement_timeout=0 -c idle_in_transaction_session_timeout=0''');
    PERFORM citus_emulation.dblink_send_query(v_name, format('CALL citus_emulation.run_job(%s)', p_job));
END
$$;

CREATE FUNCTION pg_catalog.citus_rebalance_start(
    rebalance_strategy name DEFAULT NULL, drain_only boolean DEFAULT false,
    shard_transfer_mode citus.shard_transfer_mode DEFAULT 'auto',
    parallel_transfer_reference_tables boolean DEFAULT false,
    parallel_transfer_colocated_shards boolean DEFAULT false)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_job bigint;
    v_move record;
    v_task bigint;
    v_previous bigint;
    v_moves integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('citus_emulation.rebalance'));
    SELECT j.job_id INTO v_job FROM pg_catalog.pg_dist_background_job j
    WHERE j.job_type = 'rebalance' AND NOT citus_emulation.terminal(j.state) ORDER BY j.job_id DESC LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'A rebalance is already running as job %', v_job
            USING ERRCODE = 'internal_error', DETAIL = 'A rebalance was already scheduled as background job',
                  HINT = 'To monitor progress, run: SELECT * FROM citus_rebalance_status();';
    END IF;
    CREATE TEMP TABLE citus_start_moves ON COMMIT DROP AS
    SELECT * FROM citus_emulation.plan_moves(NULL, NULL, 1000000, '{}', drain_only, rebalance_strategy, NULL);
    IF NOT EXISTS (SELECT 1 FROM citus_start_moves) THEN
        DROP TABLE citus_start_moves;
        RAISE NOTICE 'No moves available for rebalancing';
        RETURN NULL;
    END IF;
    INSERT INTO pg_catalog.pg_dist_background_job (job_type, description)
    VALUES ('rebalance', 'Rebalance all colocation groups') RETURNING job_id INTO v_job;
    -- Within a colocation group each move waits for the previous one (A_20), unless told otherwise.
    FOR v_move IN
        SELECT m.*, p.colocationid FROM citus_start_moves m
        JOIN pg_catalog.pg_dist_shard s ON s.shardid = m.shardid
        JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
        ORDER BY m.move_no
    LOOP
        INSERT INTO pg_catalog.pg_dist_background_task
            (job_id, pid, status, command, retry_count, not_before, nodes_involved)
        VALUES (v_job, 0,
                CASE WHEN v_previous IS NULL OR parallel_transfer_colocated_shards THEN 'runnable' ELSE 'blocked' END::citus_task_status,
                format('SELECT pg_catalog.citus_move_shard_placement(%s,%s,%s,%L)', v_move.shardid,
                       v_move.source_nodeid, v_move.target_nodeid, shard_transfer_mode),
                0, '2000-01-01 00:00:00+00', ARRAY[v_move.source_nodeid, v_move.target_nodeid])
        RETURNING task_id INTO v_task;
        IF v_previous IS NOT NULL AND NOT parallel_transfer_colocated_shards THEN
            INSERT INTO pg_catalog.pg_dist_background_task_depend VALUES (v_job, v_task, v_previous);
        END IF;
        v_previous := v_task;
        v_moves := v_moves + 1;
    END LOOP;
    DROP TABLE citus_start_moves;
    RAISE NOTICE 'Scheduled % moves as job %', v_moves, v_job
        USING DETAIL = 'Rebalance scheduled as background job',
              HINT = 'To monitor progress, run: SELECT * FROM citus_rebalance_status();';
    PERFORM citus_emulation.launch_runner(v_job);
    RETURN v_job;
END
$$;

CREATE FUNCTION pg_catalog.citus_job_cancel(jobid bigint)
RETURNS void LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    v_state citus_job_status;
    v_pid integer;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    SELECT state INTO v_state FROM pg_catalog.pg_dist_background_job WHERE job_id = jobid FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'couldn''t find job with id: %', jobid USING ERRCODE = 'internal_error';
    END IF;
    IF citus_emulation.terminal(v_state) THEN
        RAISE EXCEPTION 'job % is not running', jobid USING ERRCODE = 'internal_error';
    END IF;
    UPDATE pg_catalog.pg_dist_background_task SET status = 'cancelled', pid = NULL
    WHERE job_id = jobid AND status IN ('blocked', 'runnable', 'running', 'cancelling', 'unscheduled');
    UPDATE pg_catalog.pg_dist_background_job SET state = 'cancelled', finished_at = clock_timestamp()
    WHERE job_id = jobid;
    -- The executor dies mid-move, as Citus's does; its leftovers stay in pg_dist_cleanup.
    SELECT pid INTO v_pid FROM citus_emulation.job_runner WHERE job_id = jobid;
    IF v_pid IS NOT NULL THEN
        PERFORM pg_terminate_backend(v_pid);
    END IF;
END
$$;

CREATE FUNCTION pg_catalog.citus_rebalance_stop()
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_job bigint;
BEGIN
    PERFORM citus_emulation.ensure_coordinator();
    SELECT j.job_id INTO v_job FROM pg_catalog.pg_dist_background_job j
    WHERE j.job_type = 'rebalance' AND NOT citus_emulation.terminal(j.state) ORDER BY j.job_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no ongoing rebalance that can be stopped' USING ERRCODE = 'internal_error';
    END IF;
    PERFORM pg_catalog.citus_job_cancel(v_job);
END
$$;

CREATE FUNCTION pg_catalog.citus_job_wait(jobid bigint, desired_status citus_job_status DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_state citus_job_status;
BEGIN
    LOOP
        SELECT state INTO v_state FROM pg_catalog.pg_dist_background_job WHERE job_id = jobid;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'couldn''t find job with id: %', jobid USING ERRCODE = 'internal_error';
        END IF;
        EXIT WHEN v_state = desired_status;
        IF citus_emulation.terminal(v_state) THEN
            IF desired_status IS NOT NULL THEN
                RAISE EXCEPTION 'Job reached terminal state "%" instead of desired state "%"', v_state, desired_status
                    USING ERRCODE = 'internal_error';
            END IF;
            EXIT;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;

CREATE FUNCTION pg_catalog.citus_rebalance_wait()
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_job bigint;
BEGIN
    SELECT j.job_id INTO v_job FROM pg_catalog.pg_dist_background_job j
    WHERE j.job_type = 'rebalance' AND NOT citus_emulation.terminal(j.state) ORDER BY j.job_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE WARNING 'no ongoing rebalance that can be waited on';
        RETURN;
    END IF;
    PERFORM pg_catalog.citus_job_wait(v_job);
END
$$;
