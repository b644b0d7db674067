"""Deadline callbacks: log, then hand the message to a pluggable notifier.

``PGSHIFT_NOTIFIER`` names a callable ``module:function`` that receives ``(subject, message)``
(a Slack or e-mail sender of your choice); without it the message is only logged.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def notify(subject: str, message: str) -> None:
    target = os.environ.get("PGSHIFT_NOTIFIER")
    if not target:
        return
    module, _, func = target.partition(":")
    getattr(importlib.import_module(module), func)(subject, message)


async def deadline_missed(**kwargs: Any) -> None:
    """AsyncCallback of the DAGs' DeadlineAlert: runs in the triggerer when a run overruns."""
    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") or {}
    run_id = dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", None)
    subject = f"pgshift: {kwargs.get('dag_id', '?')} missed its deadline"
    message = f"{subject} (run {run_id}, allowed {kwargs.get('allowed', '?')})"
    log.error(message)
    notify(subject, message)
