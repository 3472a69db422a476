"""Development tool: fetch the front-end libraries from npm and vendor them into the tree.

Run ``python -m kernel.vendor_assets`` (or ``make vendor``) after changing ``PINS``. It needs
``npm`` and the registry; nothing else does: the app serves the vendored copies (see
``kernel.assets``) and no page loads anything from a CDN. For each pinned package it runs
``npm pack NAME@VERSION``, checks the tarball against the registry's integrity hash, copies
the listed (already minified) files and the licence files to ``kernel/static/vendor/NAME/``
and records name, version, licence, tarball URL, integrity and each file's SHA-256 in
``kernel/static/vendor/VENDORED.json``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PINS", "VENDOR_DIR", "main"]

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"


@dataclass(frozen=True, slots=True)
class Pin:
    package: str
    version: str
    files: tuple[str, ...]  # paths inside the npm package
    purpose: str


PINS: tuple[Pin, ...] = (
    # 5.32.x: from 5.33.0 to 5.35.0 (the newest in 2026-12) Swagger UI renders only the first
    # 8 of our 142 operations and then nothing, with no error (tests/browser/test_api_docs.py).
    Pin(
        "swagger-ui-dist",
        "5.32.15",
        ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"),
        "Swagger UI at /schema/swagger",
    ),
    # Not ReDoc: its standalone bundle loads its logo from cdn.redoc.ly, hard-coded.
    # htmx 2.x is the maintained stable line (4.x is a new major with a changed API).
    Pin("htmx.org", "2.0.11", ("dist/htmx.min.js",), "partial page updates (console, portal)"),
    Pin("echarts", "6.1.0", ("dist/echarts.min.js",), "charts and the map (console)"),
)
LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "NOTICE", "NOTICE.md")


def _pack(pin: Pin, workdir: Path) -> tuple[Path, dict[str, str]]:
    """``npm pack`` the pinned version; the tarball and what the registry says of it."""
    out = subprocess.run(
        ["npm", "pack", f"{pin.package}@{pin.version}", "--json", "--pack-destination", workdir],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [info] = json.loads(out)
    tarball = workdir / info["filename"]
    algorithm, digest = info["integrity"].split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != digest:
        raise SystemExit(f"{pin.package}@{pin.version}: tarball does not match its integrity")
    meta = subprocess.run(
        ["npm", "view", f"{pin.package}@{pin.version}", "license", "dist.tarball", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    view = json.loads(meta)
    return tarball, {
        "integrity": info["integrity"],
        "license": str(view["license"]),
        "tarball": str(view["dist.tarball"]),
    }


def _extract(pin: Pin, tarball: Path, dest: Path) -> dict[str, str]:
    """Copy the pinned files and the licence files; their SHA-256 by vendored name."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    wanted = {f"package/{name}": Path(name).name for name in pin.files}
    wanted |= {f"package/{name}": name for name in LICENCE_FILES}
    hashes: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = wanted.get(member.name)
            if name is None or not member.isfile():
                continue
            source = archive.extractfile(member)
            assert source is not None  # a regular file
            data = source.read()
            (dest / name).write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()
    missing = [f for f in pin.files if Path(f).name not in hashes]
    if missing:
        raise SystemExit(f"{pin.package}@{pin.version}: not in the package: {missing}")
    return hashes


def main() -> int:
    if shutil.which("npm") is None:
        print("npm is needed to vendor front-end libraries (apt-get install -y npm)")
        return 2
    manifest: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="scanguard-vendor-") as tmp:
        for n, pin in enumerate(PINS, 1):
            print(f"[{n}/{len(PINS)}] {pin.package}@{pin.version}", flush=True)
            tarball, info = _pack(pin, Path(tmp))
            files = _extract(pin, tarball, VENDOR_DIR / pin.package)
            manifest[pin.package] = {
                "version": pin.version,
                "purpose": pin.purpose,
                **info,
                "files": files,
            }
    (VENDOR_DIR / "VENDORED.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"vendored {len(PINS)} packages into {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
