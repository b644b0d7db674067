-- The pg_dist_node row of host:port with its clone columns (Citus 13.2: nodeisclone, nodeprimarynodeid;
-- read through to_jsonb so that an older Citus answers NULL instead of failing).
SELECT n.nodeid, n.groupid, n.nodename, n.nodeport, n.isactive, n.noderole::text AS noderole, n.shouldhaveshards,
       coalesce((to_jsonb(n) ->> 'nodeisclone')::boolean, false) AS nodeisclone,
       coalesce((to_jsonb(n) ->> 'nodeprimarynodeid')::integer, 0) AS nodeprimarynodeid
FROM pg_dist_node AS n
WHERE n.nodename = %(host)s AND n.nodeport = %(port)s
