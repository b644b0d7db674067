"""The chain's parameters, shared by the operators that check the whole chain (preflight, validation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from pgshift.migration.preflight.checks import CHAIN_FIELDS, ChainSpec, spec_of

if TYPE_CHECKING:
    from pgshift.migration.limits import ChainLimits


class ChainOperator(BaseOperator):
    """Holds the chain's parameters as templated attributes named like
    :class:`~pgshift.migration.preflight.checks.ChainSpec`'s
    fields; :meth:`spec` is the rendered chain. It runs no check itself: subclasses call the ones they need."""

    template_fields: Sequence[str] = CHAIN_FIELDS

    def __init__(self, *, mode: str, conn_a: str, conn_a_replication: str, conn_b: str, conn_b_source: str,
                 conn_c: str, ssh_conn_id: str | None, aws_conn_id: str | None, os_user: str | None,
                 bin_dir: str, data_dir: str, publication: str, physical_slot: str, slot: str, subscription: str,
                 schemas: list[str] | None = None, tables: list[str] | None = None,
                 thresholds: ChainLimits | Mapping[str, Any] | None = None, allow_existing_tables_on_c: bool = False,
                 move_aside_data_dir: bool = False, dms_engine_version: str | None = None,
                 accept_large_object_loss: bool = False, extra_roles: list[str] | None = None,
                 exclude_roles: list[str] | None = None, memberships_on_c: Mapping[str, list[str]] | None = None,
                 fallback: bool = True, fallback_publication: str = "pgshift_fallback_pub",
                 fallback_subscription: str = "pgshift_fallback", conn_c_subscription: str = "pgshift_c_replication",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode, self.conn_a, self.conn_a_replication, self.conn_b = mode, conn_a, conn_a_replication, conn_b
        self.conn_b_source, self.conn_c = conn_b_source, conn_c
        self.ssh_conn_id, self.aws_conn_id = ssh_conn_id, aws_conn_id
        self.os_user, self.bin_dir, self.data_dir = os_user, bin_dir, data_dir
        self.publication, self.subscription = publication, subscription
        self.physical_slot, self.slot = physical_slot, slot
        # templated: the raw threshold params (preflight checks them) or the configuration task's limits
        self.schemas, self.tables, self.thresholds = schemas, tables, thresholds or {}
        self.allow_existing_tables_on_c, self.move_aside_data_dir = allow_existing_tables_on_c, move_aside_data_dir
        self.dms_engine_version, self.accept_large_object_loss = dms_engine_version, accept_large_object_loss
        self.extra_roles, self.exclude_roles, self.memberships_on_c = extra_roles, exclude_roles, memberships_on_c
        # the way back (C -> A) the cutover arms: preflight checks it can be armed, validation checks it once armed
        self.fallback, self.fallback_publication = fallback, fallback_publication
        self.fallback_subscription, self.conn_c_subscription = fallback_subscription, conn_c_subscription

    def spec(self) -> ChainSpec:
        return spec_of(self)
