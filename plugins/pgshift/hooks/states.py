"""Kept path: ``pgshift.hooks.states``, a re-export of
:mod:`pgshift.migration.hooks.states`, where the code lives.

Why it exists: the provider convention: users import hooks, operators, sensors, triggers and notifiers from
here.
"""

from __future__ import annotations

from pgshift.migration.hooks.states import (
    ApplyWorker,
    AppProbe,
    AvailableExtension,
    CreatedSlot,
    InstalledExtension,
    LeaseHolder,
    Membership,
    OtherSession,
    PhysicalSlot,
    PublicationState,
    PublisherFacts,
    RelationName,
    ReplayReached,
    ReplicationRole,
    RoleSetting,
    RoleSpec,
    RoleState,
    ScopeTable,
    SequenceState,
    SequenceValue,
    SlotConfirmed,
    SlotState,
    SubscriberFacts,
    SubscriptionState,
    T,
    TerminatedSession,
    WalReceiver,
    WalSender,
    row_as,
    rows_as,
)

__all__ = [
    "AppProbe",
    "ApplyWorker",
    "AvailableExtension",
    "CreatedSlot",
    "InstalledExtension",
    "LeaseHolder",
    "Membership",
    "OtherSession",
    "PhysicalSlot",
    "PublicationState",
    "PublisherFacts",
    "RelationName",
    "ReplayReached",
    "ReplicationRole",
    "RoleSetting",
    "RoleSpec",
    "RoleState",
    "ScopeTable",
    "SequenceState",
    "SequenceValue",
    "SlotConfirmed",
    "SlotState",
    "SubscriberFacts",
    "SubscriptionState",
    "T",
    "TerminatedSession",
    "WalReceiver",
    "WalSender",
    "row_as",
    "rows_as",
]
