"""Kept path: ``pgshift.notifications.deadline``, a re-export of
:mod:`pgshift.common.notifications.deadline`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here; and DeadlineAlert callbacks serialize its notifier classpath.
"""

from __future__ import annotations

from pgshift.common.notifications.deadline import (
    NOTIFIERS_KEY,
    DEADLINE_SECONDS_KEY,
    ENDED_STATES,
    log,
    DeadlineConfigError,
    DeadlineNotificationError,
    NotifierSpec,
    parse_notifier_specs,
    notifier_class,
    DeadlineMissedNotifier,
    forward,
)

__all__ = [
    "NOTIFIERS_KEY",
    "DEADLINE_SECONDS_KEY",
    "ENDED_STATES",
    "log",
    "DeadlineConfigError",
    "DeadlineNotificationError",
    "NotifierSpec",
    "parse_notifier_specs",
    "notifier_class",
    "DeadlineMissedNotifier",
    "forward",
]
