"""The preflight of dms mode: the DMS API answers, and the engine version reads A's major."""

from __future__ import annotations

import re

from pgshift.migration.config import ChainConfig
from pgshift.migration.preflight.finding import Finding

# AWS DMS engine versions that first support a PostgreSQL major as a source (AWS documentation).
DMS_MIN_ENGINE = {16: (3, 5, 3), 17: (3, 6, 1)}


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def check_dms(spec: ChainConfig, a_major: int | None) -> Finding:
    """The DMS API answers with these credentials, and the engine version can read A's major."""
    from airflow.providers.amazon.aws.hooks.dms import DmsHook

    out = Finding()
    try:
        hook = DmsHook(aws_conn_id=spec.aws_conn_id or None)  # type: ignore[no-untyped-call]
        hook.conn.describe_replication_instances(MaxRecords=20)
    except Exception as exc:  # noqa: BLE001
        out.problems.append(f"AWS DMS ({spec.aws_conn_id}): cannot call DescribeReplicationInstances: {exc}")
    wanted = DMS_MIN_ENGINE.get(a_major or 0)
    version = version_tuple(spec.dms_engine_version or "")
    if wanted and version and version < wanted:
        out.problems.append(f"DMS engine {spec.dms_engine_version} cannot read PostgreSQL {a_major}: it needs "
                            f"{'.'.join(map(str, wanted))} or newer")
    elif a_major and a_major > max(DMS_MIN_ENGINE):
        out.warnings.append(f"No DMS engine version is known to pgshift to support PostgreSQL {a_major} as a "
                            "source: check the AWS DMS documentation before relying on it")
    return out
