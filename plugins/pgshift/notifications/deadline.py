"""Kept path: ``pgshift.notifications.deadline``, a re-export of
:mod:`pgshift.common.notifications.deadline`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here; and DeadlineAlert callbacks serialize its notifier classpath.
"""

from __future__ import annotations

from pgshift.common.notifications.deadline import (
    DEADLINE_SECONDS_KEY,
    ENDED_STATES,
    NOTIFIERS_KEY,
    DeadlineConfigError,
    DeadlineMissedNotifier,
    DeadlineNotificationError,
    NotifierSpec,
    forward,
    log,
    notifier_class,
    parse_notifier_specs,
)

__all__ = [
    "DEADLINE_SECONDS_KEY",
    "ENDED_STATES",
    "NOTIFIERS_KEY",
    "DeadlineConfigError",
    "DeadlineMissedNotifier",
    "DeadlineNotificationError",
    "NotifierSpec",
    "forward",
    "log",
    "notifier_class",
    "parse_notifier_specs",
]
