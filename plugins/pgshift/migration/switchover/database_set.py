"""What the switchover of several databases shares in both directions
(:class:`~pgshift.migration.switchover.cutover.several.DatabaseSetCutover`,
:class:`~pgshift.migration.switchover.fallback.several.DatabaseSetFallback`): a home run (the lease, the fence, the
commit, the set's report) and one run per database, and a step taken in every database so that its failure names
the database it failed in.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

from airflow.sdk.exceptions import AirflowFailException

from pgshift.migration.switchover.report import SwitchoverReport
from pgshift.migration.switchover.runbook import SwitchoverAbort

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from pgshift.migration.switchover.state import Direction


class PartSettings(Protocol):
    """What the set reads of a run's settings: the database a part is about (None: not a part)."""

    @property
    def database(self) -> str | None: ...


class DatabaseRun(Protocol):
    """What the set uses of a run of one direction (:class:`~pgshift.migration.switchover.runbook.Switchover`)."""

    direction: ClassVar[Direction]
    expected: ClassVar[tuple[type[BaseException], ...]]

    @property
    def settings(self) -> PartSettings: ...

    @property
    def report(self) -> SwitchoverReport: ...


Run = TypeVar("Run", bound=DatabaseRun)
Section = TypeVar("Section", bound=SwitchoverReport)


class DatabaseSet(Generic[Run, Section]):
    """One attempt of a switchover of several databases: ``home`` (the run in the home databases) and ``parts``
    (one run per database, in ``databases``' order, each with its own sessions in that database and its own
    report section, a ``Section`` of the set's report; a part never fences)."""

    def __init__(self, home: Run, parts: list[Run], log: Logger) -> None:
        self.home, self.parts, self.log = home, parts, log
        self.databases = [self.database(p) for p in parts]

    def database(self, part: Run) -> str:
        """The database ``part`` is about."""
        database = part.settings.database
        if database is None:
            raise RuntimeError(f"a part of a {part.direction.action} of several databases without its database")
        return database

    def section(self, part: Run) -> Section:
        """The part's report (its section of the set's)."""
        return cast("Section", part.report)

    def each(self, what: str, step: Callable[..., Any], per: list[Any] | dict[str, Any] | None = None) -> Any:
        """``step`` for every database in order (with its item of ``per``, by database or in order); a failure names
        the database. Returns the results by database."""
        out: dict[str, Any] = {}
        for i, part in enumerate(self.parts):
            database = self.database(part)
            if per is None:
                out[database] = self._in(part, what, partial(step, part))
            else:
                item = per[database] if isinstance(per, dict) else per[i]
                out[database] = self._in(part, what, partial(step, part, item))
        return out

    def at_once(self, what: str, step: Callable[[Run], Any], workers: int | None = None) -> dict[str, Any]:
        """``step`` for every database at once (at most ``workers`` at a time; default all), each in its own
        sessions; every database's outcome is awaited before the first failure (in ``databases``' order, naming its
        database) is raised. Returns the results by database."""
        workers = max(1, min(len(self.parts), workers or len(self.parts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pgshift-db") as pool:
            futures = {self.database(p): pool.submit(self._in, p, what, partial(step, p)) for p in self.parts}
            failures = [exc for f in futures.values() if (exc := f.exception()) is not None]
        if failures:
            raise failures[0]
        return {database: f.result() for database, f in futures.items()}

    def _in(self, part: Run, what: str, step: Callable[[], Any]) -> Any:
        """``step`` of one database; its failure says which database (the same kind of failure, so the rollback's
        message reads as a single database's would)."""
        try:
            return step()
        except AirflowFailException:
            raise
        except self.home.expected as exc:
            raise type(exc)(f"database {self.database(part)} ({what}): {exc}") from exc
        except Exception as exc:
            raise SwitchoverAbort(f"database {self.database(part)} ({what}): {type(exc).__name__}: {exc}") from exc
