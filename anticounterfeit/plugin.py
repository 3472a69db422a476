"""Admin routes owned by anticounterfeit: catalogue (products, batches), code rolls, genealogy,
recalls, traces and EPCIS export, brand links (GS1 Digital Link)."""

from __future__ import annotations

from typing import Any

from anticounterfeit.catalogue.routes import ROUTES as CATALOGUE_ROUTES
from anticounterfeit.codes.routes import ROUTES as ROLL_ROUTES
from anticounterfeit.links.routes import ROUTES as LINK_ROUTES
from anticounterfeit.trace.report_routes import ROUTES as TRACE_ROUTES
from anticounterfeit.trace.routes import ROUTES as GENEALOGY_ROUTES

__all__ = ["ROUTES"]

ROUTES: list[Any] = [
    *CATALOGUE_ROUTES,
    *ROLL_ROUTES,
    *GENEALOGY_ROUTES,
    *TRACE_ROUTES,
    *LINK_ROUTES,
]
