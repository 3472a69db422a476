"""The app serves every asset its pages use, under content-hashed names; no page needs a CDN."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from kernel.assets import STATIC_ROOT, default_manifest

VENDOR = STATIC_ROOT / "vendor"
REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_api_docs_load_only_what_the_app_serves(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<script>" not in html  # no inline script: the page runs under a strict CSP
    assert "fonts.googleapis" not in html
    references = REFERENCE.findall(html)
    assert references, "the page loads its UI from somewhere"
    for url in references:
        assert url.startswith("/static/"), f"{page} loads {url} from elsewhere"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 0


async def test_the_document_the_ui_reads_is_served(client: httpx.AsyncClient) -> None:
    page = (await client.get("/schema/swagger")).text
    [spec] = re.findall(r'data-spec-url="([^"]+)"', page)
    document = await client.get(spec)
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "scanguard"


async def test_an_asset_is_found_only_by_its_current_hash(client: httpx.AsyncClient) -> None:
    url = default_manifest().url("vendor/htmx.org/htmx.min.js")
    assert re.fullmatch(r"/static/vendor/htmx\.org/htmx\.min\.[0-9a-f]{12}\.js", url)
    assert (await client.get(url)).headers["content-type"].startswith("text/javascript")
    for wrong in (
        "/static/vendor/htmx.org/htmx.min.js",  # no hash
        "/static/vendor/htmx.org/htmx.min.000000000000.js",  # a stale hash
        "/static/vendor/htmx.org/LICENSE",  # not an asset
        "/static/../settings.py",
        "/static/%2e%2e/kernel/settings.py",
    ):
        response = await client.get(wrong)
        assert response.status_code == 404, wrong


def test_every_vendored_file_is_recorded_with_its_version_licence_and_hash() -> None:
    recorded = json.loads((VENDOR / "VENDORED.json").read_text(encoding="utf-8"))
    on_disk = {p.parent.name for p in VENDOR.glob("*/*")}
    assert set(recorded) == on_disk
    for package, entry in recorded.items():
        assert entry["version"]
        assert entry["license"]
        assert entry["tarball"].startswith(f"https://registry.npmjs.org/{package}/-/")
        files: dict[str, str] = entry["files"]
        assert "LICENSE" in files, f"{package} ships without its licence"
        assert {p.name for p in (VENDOR / package).iterdir()} == set(files)
        for name, digest in files.items():
            data = Path(VENDOR / package / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"{package}/{name} was edited"
