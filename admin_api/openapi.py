"""The OpenAPI document's configuration: title, security schemes and tags."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag

__all__ = ["openapi_config"]


def openapi_config() -> OpenAPIConfig:
    """A fresh configuration for each app, so no two apps share one mutable config."""
    return OpenAPIConfig(
        title="scanguard",
        version="0.1.0",
        path="/schema",
        description=(
            "One item, one code. Consumer scan gateway (GS1 Digital Link) and the brand "
            "admin API. Errors are RFC 9457 problem+json with a stable `code` and `field`."
        ),
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="Admin, distributor or consumer token (each its own audience)",
                ),
                "ApiKey": SecurityScheme(
                    type="apiKey",
                    name="X-Api-Key",
                    security_scheme_in="header",
                    description="A distributor's machine credential (warehouse scanner, ERP)",
                ),
            }
        ),
        tags=[
            Tag(name="scan", description="Consumer scans (mini-program JSON, browser HTML)"),
            Tag(name="auth", description="Admin login"),
            Tag(name="catalogue", description="Brands, products, batches"),
            Tag(name="codes", description="Code rolls: issue, export, activate, void"),
            Tag(name="monitoring", description="Scan history, counterfeit attempts, audit"),
            Tag(name="traceability", description="Genealogy, traces, EPCIS 2.0 export"),
            Tag(name="recalls", description="Recalls, affected sets, confirmations"),
            Tag(name="notifications", description="Webhooks, delivery log, replay"),
            Tag(
                name="channel",
                description="Distributors, aggregation, shipments, whereabouts, diversion",
            ),
            Tag(
                name="distributor",
                description="The distributors' own API: login, checks, shipments, inbox",
            ),
            Tag(name="loyalty", description="Consumers: login, claims, points, prizes"),
            Tag(name="loyalty-admin", description="Campaigns, prizes, catalogue, review"),
        ],
    )
