-- On A: may this role make B a synchronous standby (ALTER SYSTEM on the parameter, then pg_reload_conf())?
-- A superuser may both; another role needs GRANT ALTER SYSTEM ON PARAMETER and EXECUTE on pg_reload_conf().
SELECT current_user::text                                                     AS role,
       has_parameter_privilege('synchronous_standby_names', 'ALTER SYSTEM')   AS alter_system,
       has_function_privilege('pg_reload_conf()', 'EXECUTE')                  AS reload
