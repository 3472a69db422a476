"""The Citus distribution plan: which table is distributed by ``brand_id``, which is a
reference table (copied to every node), and which stays local on the coordinator.

Citus distributes a table by one column and requires every primary key, unique constraint
and foreign key between distributed tables to contain it; foreign keys from a distributed
table to a reference table need not. ``tests/partitioning/test_citus_rule.py`` checks this
module against the LIVE schema (pg_catalog): every table is classified, every distributed
table has a NOT NULL ``brand_id`` in every key, and the tables still to be converted are
exactly ``PENDING`` (a fixed table must leave it; a new offender fails). docs/operations.md
("Citus distribution plan") explains the choices.
"""

from __future__ import annotations

__all__ = [
    "DISTRIBUTED",
    "LOCAL",
    "PENDING",
    "REFERENCE",
    "TENANT_WITHOUT_BRAND",
    "classification",
]

#: Grow with scans or units; co-located by brand_id (every key contains it).
DISTRIBUTED: frozenset[str] = frozenset(
    {
        "scans",
        "diversion_signals",
        "diversion_tallies",
        "loyalty_accounts",
        "unit_positions",
    }
)

#: To be distributed by brand_id once their keys contain it; what stands in the way.
PENDING: dict[str, str] = {
    "code_first_scans": "PK (code_id): ON CONFLICT (code_id) of the scan log must become "
    "(code_id, brand_id)",
    "loyalty_claims": "UNIQUE (code_id) is the one-claim-per-code guard: (brand_id, code_id)",
    "loyalty_ledger": "UNIQUE (idem_key), PK (id): (brand_id, idem_key), (brand_id, id)",
    "loyalty_draws": "UNIQUE (claim_id), PK (id): add brand_id to both",
    "loyalty_redemptions": "UNIQUE (consumer_id, client_key), PK (id): add brand_id",
    "loyalty_payouts": "UNIQUE (order_no), PK (id): add brand_id",
    "diversion_alerts": "UNIQUE (open_key), PK (id): add brand_id (open_key starts with it)",
    "diversion_alert_events": "no brand_id column; FK (alert_id) → (brand_id, alert_id)",
    "containers": "UNIQUE (code_id), PK (id), FK parent_id: add brand_id",
    "aggregations": "FKs to containers and aggregation_operations: add brand_id",
    "aggregation_operations": "PK (id): (brand_id, id)",
    "shipments": "PK (id): (brand_id, id); FKs from shipment_lines",
    "shipment_lines": "no brand_id column; FKs to shipments and containers",
    "consumer_inbox": "UNIQUE (event_id, device_hash), PK (id): add brand_id",
    "distributor_inbox": "UNIQUE (event_id, distributor_id), PK (id): add brand_id",
}

#: Small per brand, read on every node (joins with distributed tables stay local).
REFERENCE: frozenset[str] = frozenset(
    {
        "brands",
        "brand_code_keys",
        "products",
        "batches",
        "code_rolls",
        "code_range_events",
        "brand_links",
        "distributors",
        "distributor_users",
        "distributor_api_keys",
        "users",
        "material_lots",
        "batch_materials",
        "batch_productions",
        "quality_results",
        "recalls",
        "recall_scopes",
        "recall_confirmations",
        "diversion_rules",
        "loyalty_campaigns",
        "loyalty_prizes",
        "loyalty_catalogue_items",
        "loyalty_premises",
        "loyalty_consumers",
        "webhook_subscriptions",
    }
)

#: Coordinator only: platform-wide or brand-optional rows (brand_id NULL for forged GTINs,
#: platform events), worker state, migration bookkeeping.
LOCAL: frozenset[str] = frozenset(
    {
        "alembic_version",
        "installation",
        "stream_cursors",
        "counterfeit_flushes",
        "scan_followups",
        "counterfeit_attempts",
        "outbox_events",
        "notification_fanouts",
        "notification_deliveries",
        "notification_delivery_attempts",
        "audit_log",
        "loyalty_pin_failures",
    }
)

#: Brand-scoped rows that reach their brand only through a parent (the rule wants brand_id
#: on each); ``brands`` is the tenant itself, ``loyalty_consumers`` are shared by brands.
TENANT_WITHOUT_BRAND: frozenset[str] = frozenset(
    {
        "code_range_events",
        "recall_scopes",
        "distributor_users",
        "diversion_alert_events",
        "shipment_lines",
    }
)


def classification(table: str) -> str | None:
    """``distributed``, ``pending``, ``reference``, ``local`` or None (not in the plan)."""
    if table in DISTRIBUTED:
        return "distributed"
    if table in PENDING:
        return "pending"
    if table in REFERENCE:
        return "reference"
    if table in LOCAL:
        return "local"
    return None
