"""Security headers on every answer over HTTP: CSP without inline code on HTML pages, no
framing, no referrer, no sniffing; consumer cookies Secure outside development."""

from __future__ import annotations

import re

import httpx
from litestar import Litestar

from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import make_brand, make_product

HTML = {"Accept": "text/html,*/*"}


async def _page(app: Litestar, client: httpx.AsyncClient) -> httpx.Response:
    brand = await make_brand(app)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=5)
    [code] = codes_of(app, roll, product.gtin, [1])
    response = await client.get(scan_path(product.gtin, code), headers=HTML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response


def _directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    pairs = (d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}


async def test_the_consumer_page_has_a_strict_policy_and_no_inline_code(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    response = await _page(app, client)
    csp = _directives(response)
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    # The page obeys its own policy: no inline script, style block or style attribute.
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", response.text, re.I)
    [stylesheet] = re.findall(r'<link rel="stylesheet" href="(/static/[^"]+)">', response.text)
    css = await client.get(stylesheet)
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ".banner" in css.text


async def test_the_device_cookie_is_secure_httponly_and_lax_outside_development(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    response = await _page(app, client)  # the suite runs in env "test"
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("sgd=")]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()


async def test_development_cookies_work_on_plain_http(settings: Settings) -> None:
    async with running_app(settings.with_overrides(env="development")) as (app, client):
        response = await _page(app, client)
        [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("sgd=")]
        assert "secure" not in cookie.lower()
        assert "httponly" in cookie.lower()
        assert response.headers["content-security-policy"]  # the headers do not depend on it


async def test_json_and_error_answers_are_not_sniffed(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/no/such/route", "/01/123/21/x"):
        response = await client.get(path, headers={"Accept": "application/json"})
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in response.headers, path


async def test_the_api_documentation_gets_a_relaxed_policy_still_unframable(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/schema", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = _directives(response)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'"  # the vendored UIs need no inline or remote script
    assert "https:" not in response.headers["content-security-policy"]
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
