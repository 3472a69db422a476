"""Schemathesis over the whole OpenAPI document, as a brand admin and as a distributor, on
both backends (issue 12 §1): no 5xx, and every answer has a documented status code, content
type and body schema. Bounded in time; ``make fuzz`` runs the same at a larger budget."""

from __future__ import annotations

import os

import httpx
import pytest
from litestar import Litestar

from loadtests.fuzz import fuzz
from tests.factories.channel import distributor_login, make_distributor, make_distributor_user
from tests.factories.tenancy import brand_admin

SECONDS = float(os.environ.get("SCANGUARD_FUZZ_SECONDS", "4"))
EXAMPLES = int(os.environ.get("SCANGUARD_FUZZ_EXAMPLES", "4"))


@pytest.mark.timeout(SECONDS * 3 + 60)
@pytest.mark.parametrize("who", ["brand_admin", "distributor"])
async def test_no_answer_breaks_the_document(
    app: Litestar, client: httpx.AsyncClient, backend: str, who: str
) -> None:
    brand, headers = await brand_admin(app, client)
    if who == "distributor":
        distributor = await make_distributor(app, brand)
        headers = await distributor_login(client, await make_distributor_user(app, distributor))
    document = app.openapi_schema.to_schema()
    report = await fuzz(client, document, headers, seconds=SECONDS, examples=EXAMPLES)
    print(report.line(f"{backend}/{who}"), dict(sorted(report.statuses.items())))
    assert report.requests >= report.operations  # every operation at least once
    assert (report.server_errors, report.violations) == (0, 0), "\n".join(report.failures[:20])
