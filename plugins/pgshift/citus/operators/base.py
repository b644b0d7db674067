"""What every citus_scale_out step shares: the coordinator connection (:class:`CitusBaseOperator`) and the
helpers that print sizes and tables. Its own module so that the clone preflight and the steps can both use it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from pgshift.citus.params import Worker, parse_workers

if TYPE_CHECKING:  # psycopg2 and the postgres provider: imported where a step runs, not when the DAG is parsed
    from pgshift.citus.hook import CitusHook


def pretty_bytes(n: int | float | None) -> str:
    """pg_size_pretty's style: bytes, kB, MB, GB, TB (powers of 1024)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(value) < 10 * 1024 or (unit == "GB" and abs(value) < 10 * 1024 ** 2):
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} TB"


def text_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A plain aligned table for the task log; ``columns`` are (key, heading)."""
    cells = [[heading for _, heading in columns]] + [[str(r.get(key, "")) for key, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _workers(specs: Any) -> list[Worker]:
    workers, problems = parse_workers(specs or [])
    if problems:
        raise AirflowFailException("; ".join(problems))
    return workers


class CitusBaseOperator(BaseOperator):
    """The coordinator connection and the per-connection limits every step uses."""

    template_fields: Sequence[str] = ("coordinator_conn_id", "connect_timeout_seconds", "statement_timeout_seconds")

    def __init__(self, *, coordinator_conn_id: str, connect_timeout_seconds: Any = 10,
                 statement_timeout_seconds: Any = 600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coordinator_conn_id = coordinator_conn_id
        self.connect_timeout_seconds = connect_timeout_seconds
        self.statement_timeout_seconds = statement_timeout_seconds

    def coordinator(self) -> CitusHook:
        from pgshift.citus.hook import CitusHook

        return CitusHook(self.coordinator_conn_id, connect_timeout=int(self.connect_timeout_seconds),
                         statement_timeout=float(self.statement_timeout_seconds))

    def node(self, worker: Worker) -> CitusHook:
        """Another node, reached with the coordinator connection's credentials and database."""
        from pgshift.citus.hook import CitusHook

        return CitusHook(self.coordinator_conn_id, host=worker.host, port=worker.port,
                         connect_timeout=int(self.connect_timeout_seconds),
                         statement_timeout=float(self.statement_timeout_seconds))
