"""Kept path: ``pgshift.checks.reverse``, a re-export of
:mod:`pgshift.migration.checks.reverse`, where the code lives.

Why it exists: serialized data names it: a check's classpath (Check.serialize) in a trigger deferred by an
older pgshift.
"""

from __future__ import annotations

from pgshift.migration.checks.reverse import (
    ReverseLagCheck,
    ReverseSubscriptionCheck,
    check_reverse_lag,
    check_reverse_subscription,
)

__all__ = [
    "ReverseLagCheck",
    "ReverseSubscriptionCheck",
    "check_reverse_lag",
    "check_reverse_subscription",
]
