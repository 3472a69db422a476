"""The OpenAPI document's configuration: title, security schemes, tags and the UIs that show it
(``admin_api.openapi_ui``: vendored, nothing from a CDN)."""

from __future__ import annotations

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
    SecurityScheme,
    Tag,
)

from admin_api.openapi_ui import render_plugins
from kernel.problems import PROBLEM_MEDIA_TYPE

__all__ = ["document_problems", "openapi_config", "with_problem_responses"]

# The error answers any operation may give, each an RFC 9457 problem+json document.
PROBLEM_ANSWERS = {
    "400": "Invalid request: a parameter or the body does not fit (the `field` names it)",
    "401": "Missing, expired or invalid credentials",
    "403": "The caller's role may not do this",
    "404": "No such object (or another brand's)",
    "409": "Conflicts with the object's current state",
    "413": "Request body too large",
    "422": "Well-formed but refused by a business rule (the `field` names it)",
    "429": "Too many requests (logins included): wait `Retry-After` seconds",
}

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details with a stable `code` and the `field` at fault",
    required=["type", "title", "status", "detail", "code"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "code": Schema(type=OpenAPIType.STRING),
        "field": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
)


def with_problem_responses(openapi: OpenAPI) -> OpenAPI:
    """``openapi`` with every operation documenting :data:`PROBLEM_ANSWERS` as problem+json
    (replacing Litestar's own 400, whose body is not what the app sends)."""
    components = openapi.components
    if isinstance(components, list):  # pragma: no cover - the config gives one Components
        components = components[0]
    components.schemas = {**(components.schemas or {}), "Problem": PROBLEM_SCHEMA}
    problem = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
    for item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            responses = dict(operation.responses or {})
            for status, description in PROBLEM_ANSWERS.items():
                if status == "400" or status not in responses:
                    responses[status] = OpenAPIResponse(
                        description=description, content={PROBLEM_MEDIA_TYPE: problem}
                    )
            operation.responses = dict(sorted(responses.items()))
    return openapi


class _ProblemOpenAPIPlugin(OpenAPIPlugin):
    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        return with_problem_responses(super()._build_openapi())


def document_problems(app: Litestar) -> Litestar:
    """Make ``app``'s OpenAPI document (built lazily) list the problem answers everywhere."""
    app.plugins.get(OpenAPIPlugin).__class__ = _ProblemOpenAPIPlugin
    return app


def openapi_config() -> OpenAPIConfig:
    """A fresh configuration for each app, so no two apps share one mutable config."""
    return OpenAPIConfig(
        title="scanguard",
        version="0.1.0",
        path="/schema",
        render_plugins=render_plugins(),
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
