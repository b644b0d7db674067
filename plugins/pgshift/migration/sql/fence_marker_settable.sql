-- Whether this session may store the fence marker as a setting (ALTER DATABASE ... SET pgshift.fence): a
-- placeholder setting needs a superuser or GRANT SET ON PARAMETER (Aurora's master user has neither).
SELECT has_parameter_privilege('pgshift.fence', 'SET') AS settable
