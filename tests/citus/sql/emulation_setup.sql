-- The emulated coordinator: how to reach nodes (Citus reads pg_dist_authinfo too), then the
-- coordinator and the two existing workers, as A_04 set them up.
INSERT INTO pg_dist_authinfo VALUES (0, '', %(authinfo)s), (-1, '', %(authinfo)s);
SELECT citus_set_coordinator_host('127.0.0.1', %(coordinator_port)s);
SELECT citus_add_node('127.0.0.1', %(worker1_port)s);
SELECT citus_add_node('127.0.0.1', %(worker2_port)s);
