"""What both domains use: the PostgreSQL hook base, the SQL loader, checks, the poll sensor and trigger,
reports, charts, input validation, DAG defaults and the deadline notifier. It imports neither
:mod:`pgshift.migration` nor :mod:`pgshift.citus`."""
