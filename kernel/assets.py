"""Static assets served by the app itself, under names that carry their content hash.

No page may need the internet (many factory and mainland-China networks reach no CDN), so
every script, style sheet and font a page uses is a file in the tree: the vendored front-end
libraries (``kernel/static/vendor``, written by ``python -m kernel.vendor_assets``) and our
own (``kernel/static/app``). A page asks ``AssetManifest.url("vendor/htmx.org/htmx.min.js")``
and gets ``/static/vendor/htmx.org/htmx.min.1a2b3c4d5e6f.js``: the name changes whenever the
content does, so the answer can be cached for a year (``immutable``) and a deploy still
reaches every browser at once. A name without the right hash is 404, never a stale file.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

__all__ = ["STATIC_PREFIX", "AssetManifest", "default_manifest", "static_router"]

STATIC_ROOT = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
SERVED_SUFFIXES = frozenset({".js", ".css", ".json", ".svg", ".png", ".woff2", ".geojson"})
HASH_LENGTH = 12


def _hashed_name(path: PurePosixPath, digest: str) -> PurePosixPath:
    """``a/b/htmx.min.js`` → ``a/b/htmx.min.<digest>.js``."""
    return path.with_name(f"{path.stem}.{digest}{path.suffix}")


@dataclass(slots=True)
class AssetManifest:
    """Logical asset names → content-hashed URLs, and back to the file on disk."""

    root: Path
    urls: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # hashed relative name → file

    @classmethod
    def scan(cls, root: Path) -> AssetManifest:
        manifest = cls(root)
        for file in sorted(root.rglob("*")):
            if not file.is_file() or file.suffix not in SERVED_SUFFIXES:
                continue
            logical = PurePosixPath(file.relative_to(root).as_posix())
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:HASH_LENGTH]
            hashed = _hashed_name(logical, digest)
            manifest.urls[str(logical)] = f"{STATIC_PREFIX}/{hashed}"
            manifest.files[str(hashed)] = file
        return manifest

    def url(self, logical: str) -> str:
        """The URL of asset ``logical`` (a path under ``kernel/static``); ``KeyError`` names it."""
        try:
            return self.urls[logical]
        except KeyError:
            raise KeyError(f"no static asset {logical!r} under {self.root}") from None

    def file(self, hashed: str) -> Path | None:
        return self.files.get(hashed)


@cache
def default_manifest() -> AssetManifest:
    """The manifest of ``kernel/static``, read once per process (the files ship with the code)."""
    return AssetManifest.scan(STATIC_ROOT)


@get(
    "/{asset:path}",
    include_in_schema=False,
    sync_to_thread=False,
    cache_control=None,
)
def serve_asset(asset: FromPath[str]) -> File:
    """One static asset by its hashed name, cacheable for a year."""
    path = default_manifest().file(asset.lstrip("/"))
    if path is None:
        raise NotFoundException(f"no static asset {asset}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix in {".js", ".css"}:
        media_type += "; charset=utf-8"
    return File(
        path,
        content_disposition_type="inline",
        media_type=media_type,
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


def static_router() -> Router:
    """The ``/static`` routes (the composition root mounts them)."""
    return Router(path=STATIC_PREFIX, route_handlers=[serve_asset])
