"""moto as a server on 127.0.0.1 for the DMS tests, with the DMS task states moto does not move by itself.

Run as ``python tests/moto_dms_server.py PORT``: moto's own server (``moto.server.main``, the one the
``moto_server`` command runs), with one change in this process only. moto 5.2.5 keeps a created replication task
``creating`` forever and starts it straight to ``running``; real DMS makes it ``ready`` after validating it,
and a started task is ``starting`` for a while. Here the task's status is one of moto's managed-state models,
:data:`TASK_MODEL`, driven through moto's HTTP API like the replication instance (``dms::replicationinstance``):

- ``POST /moto-api/state-manager/set-transition`` ``{"model_name": "dms::replicationtask", "transition":
  {"progression": "manual", "times": N}}``: creating -> ready and starting -> running each take N describes;
  the default is ``immediate`` (the next describe shows ready/running);
- the same body with ``"fail_with": "message"`` in the transition: a running task turns ``failed`` at its next
  describe, with that text as its ``LastFailureMessage`` (what DMS reports when, say, B's slot goes away);
- ``"fail_as": "<status>"`` in the transition of ``dms::replicationinstance``: the instance shows that status
  (``failed``, ``storage-full``, ...) from its next describe on.

And as real DMS does (moto answers an empty list), a describe whose filters match nothing is a
``ResourceNotFoundFault``.

Tests see nothing of this process but its HTTP port; ``POST /moto-api/reset`` empties it between tests.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.dms import models
from moto.dms.exceptions import ResourceNotFoundFault
from moto.moto_api import state_manager
from moto.moto_api._internal.managed_state_model import ManagedState

TASK_MODEL = "dms::replicationtask"
INSTANCE_MODEL = "dms::replicationinstance"
MotoReplicationTask = models.FakeReplicationTask  # moto's, before main() puts the classes below in their place
MotoReplicationInstance = models.FakeReplicationInstance


class ManagedReplicationTask(MotoReplicationTask, ManagedState):
    """moto's replication task with its status under the state manager (see the module's docstring)."""

    __module__ = "moto.dms.models"  # moto's model registry names a model's service after its module

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        ManagedState.__init__(self, model_name=TASK_MODEL, transitions=[("creating", "ready"), ("starting", "running")])
        self.failure: str | None = None
        MotoReplicationTask.__init__(self, *args, **kwargs)

    @property  # type: ignore[override]
    def status(self) -> str | None:
        status = ManagedState.status.fget(self)  # type: ignore[attr-defined]
        fail_with = state_manager.get_transition(TASK_MODEL).get("fail_with")
        if status == "running" and fail_with:
            self._status, self.failure = "failed", str(fail_with)
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status, self._tick = value, 0

    def run(self) -> ManagedReplicationTask:
        return self  # starting -> running is the state manager's

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.failure:
            out["LastFailureMessage"] = self.failure
        return out


class FailingReplicationInstance(MotoReplicationInstance):
    """moto's replication instance, which a ``fail_as`` in its transition puts in that status."""

    __module__ = "moto.dms.models"

    @property  # type: ignore[override]
    def status(self) -> str | None:
        status = ManagedState.status.fget(self)  # type: ignore[attr-defined]
        fail_as = state_manager.get_transition(INSTANCE_MODEL).get("fail_as")
        return str(fail_as) if fail_as else status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value


def _describe(original: Any, what: str, advance: bool) -> Any:
    def describe(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = list(original(self, *args, **kwargs))
        if not found and (args[0] if args else kwargs.get("filters")):
            raise ResourceNotFoundFault(f"{what} could not be found.")
        for item in found if advance else ():
            item.advance()
        return found
    return describe


def main(port: int) -> None:
    models.FakeReplicationTask = ManagedReplicationTask  # type: ignore[misc]
    models.FakeReplicationInstance = FailingReplicationInstance  # type: ignore[misc]
    backend = models.DatabaseMigrationServiceBackend
    for name, what, advance in (("describe_replication_tasks", "Replication task", True),
                                ("describe_replication_instances", "Replication instance", False),
                                ("describe_endpoints", "Endpoint", False)):
        setattr(backend, name, _describe(getattr(backend, name), what, advance))
    state_manager.register_default_transition(TASK_MODEL, {"progression": "immediate"})
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(port)])


if __name__ == "__main__":
    main(int(sys.argv[1]))
