"""Every table of every domain in one ``MetaData``: for migration autogenerate and drift checks.

The composition root is the one place allowed to know all domains' model modules. A domain
that adds a model module lists it here, or its tables are invisible to ``scanguard
makemigration`` and the migration drift test fails.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from kernel.db import Base

__all__ = ["MODEL_MODULES", "all_metadata"]

MODEL_MODULES = (
    "kernel.audit",
    "kernel.outbox",
    "kernel.accounts",
    "kernel.installation",
    "admin_api.notifications.models",
    "admin_api.streaming.models",
    "anticounterfeit.catalogue.models",
    "anticounterfeit.codes.models",
    "anticounterfeit.links.models",
    "anticounterfeit.trace.models",
    "gateway.models",
    "channel_control.distributors.models",
    "channel_control.diversion.models",
    "loyalty.models",
    "channel_control.logistics.models",
)


def all_metadata() -> MetaData:
    """Import every model module and return the shared metadata they registered on."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata
