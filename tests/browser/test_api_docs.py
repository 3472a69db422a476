"""Swagger UI renders in a real browser from the app's own files, reaching nothing outside."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Watched

# One backend: the server is a separate process, which shares PostgreSQL and Redis with the
# test but not the embedded in-process store.
pytestmark = pytest.mark.parametrize("backend", ["services"])


async def test_swagger_ui_lists_the_operations(watched: Watched) -> None:
    page = watched.page
    await page.goto(f"{watched.base_url}/schema/swagger")
    await page.locator(".opblock").first.wait_for(timeout=15_000)
    await watched.screenshot(f"schema-swagger-{(page.viewport_size or {'width': 0})['width']}")
    # Every tag of the document is a section, and the operations are listed, not a blank page.
    await page.wait_for_function("document.querySelectorAll('.opblock-tag').length >= 10")
    assert await page.locator(".opblock").count() >= 50
    await page.get_by_text("/v1/scans").first.wait_for()
