"""The GS1-conformant resolver over HTTP (GS1-Conformant Resolver standard, Digital Link URI
syntax 1.4): ``/.well-known/gs1resolver`` and every Digital Link path form (``/01/{gtin}`` with
any qualifiers, any path prefix, compressed links) for GET, HEAD and OPTIONS, with CORS.

What a request gets:
- ``linkType=linkset`` / ``all``, or ``Accept: application/linkset+json``: the linkset (200);
- ``linkType={type}``: that link, in the best language for ``Accept-Language``: a 307 to its
  target, or ours answered in place (the verdict, the recall state); an unknown type or one the
  item has no link of: 404;
- no ``linkType``: the default link: the verdict for a serialised item, else the brand's
  default link (307), else the linkset;
- a malformed link: 400 problem naming ``path``.
Only a GET answered with the verdict is a consumer scan (``docs/api.md``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, route
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from anticounterfeit.codes.format import verify_code
from anticounterfeit.gs1.compression import COMPRESSED_SEGMENT_RE
from anticounterfeit.gs1.digital_link import DigitalLink, parse_digital_link
from anticounterfeit.gs1.vocabulary import GS1_VOC, LINK_TYPES, parse_link_type
from gateway.resolver.brand_links import CatalogueBrandLinks
from gateway.resolver.linkset import (
    LINKSET_MEDIA_TYPE,
    RECALL,
    VERDICT,
    Link,
    anchor_of,
    choose,
    default_link,
    link_header,
    linkset_document,
    own_links,
)
from gateway.resolver.ports import BrandLinks
from gateway.resolver.verdict import verdict_answer
from gateway.service import ScanService
from kernel.errors import InvalidInput
from kernel.problems import PROBLEM_MEDIA_TYPE, problem_body
from kernel.settings import Settings

__all__ = ["ROUTES"]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Link, Location, Content-Type, Content-Language",
}
_PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Accept-Language, Content-Type",
    "Access-Control-Max-Age": "86400",
}
_MIN_COMPRESSED = 10  # a compressed GTIN alone takes 10 characters


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _brand_links(request: Request[Any, Any, Any]) -> BrandLinks:
    """The app's brand links (``state.brand_links`` when set, else the catalogue's)."""
    state = request.app.state
    provider: BrandLinks | None = getattr(state, "brand_links", None)
    if provider is None:
        provider = CatalogueBrandLinks(state.session_factory, state.scans)
    return provider


def _looks_like_digital_link(raw_path: str) -> bool:
    """Paths the resolver claims; any other unknown path stays a plain 404."""
    segments = [s for s in raw_path.split("/") if s]
    if "01" in segments:
        return True
    return (
        len(segments) >= 1
        and len(segments[-1]) >= _MIN_COMPRESSED
        and COMPRESSED_SEGMENT_RE.fullmatch(segments[-1]) is not None
    )


def _problem(
    status: int, code: str, title: str, detail: str, field: str | None, head: bool
) -> Response[Any]:
    body = problem_body(status, code=code, title=title, detail=detail, field=field)
    return Response(
        b"" if head else body,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**CORS_HEADERS, "Cache-Control": "no-store"},
    )


def _wants_linkset(request: Request[Any, Any, Any], link_type: str | None) -> bool:
    if link_type in ("linkset", "all"):
        return True
    accept = request.headers.get("accept", "")
    return LINKSET_MEDIA_TYPE in accept and "text/html" not in accept


async def _recall_state(request: Request[Any, Any, Any], link: DigitalLink) -> dict[str, Any]:
    """The recall state of a serialised item (``gs1:recallStatus``): read-only, no scan."""
    scans: ScanService = request.app.state.scans
    decoded = verify_code(scans.keyring, link.serial, link.gtin) if link.serial else None
    meta = await scans.metadata.roll_for(decoded.kid, decoded.index) if decoded else None
    if decoded is None or meta is None or meta.product.gtin != link.gtin:
        return {"gtin": link.gtin, "serial": link.serial, "known": False, "recalled": False}
    recall = meta.state_of(decoded.index).recall
    return {
        "gtin": link.gtin,
        "serial": link.serial,
        "known": True,
        "recalled": recall is not None,
        "recall": None
        if recall is None
        else {
            "severity": recall.severity,
            "reason": recall.reason,
            "consumer_instructions": recall.consumer_instructions,
            "activated_at": recall.activated_at,
        },
    }


def _pick(
    request: Request[Any, Any, Any], links: list[Link], link_type: str | None
) -> tuple[Link | None, Response[Any] | None]:
    """The link a request asks for, or the 404 answer when there is none."""
    language = request.headers.get("accept-language")
    head = request.method == "HEAD"
    if link_type is None:
        return default_link(links, language), None
    name = parse_link_type(link_type)
    if name is None:
        detail = f"linkType {link_type!r} is not a GS1 link type ({GS1_VOC})"
        return None, _problem(404, "unknown_link_type", "Not found", detail, "linkType", head)
    if name in ("defaultLink", "defaultLinkMulti"):  # asking for the default by name
        chosen = default_link(links, language)
    else:
        chosen = choose(links, name, language)
    if chosen is None:
        detail = f"this item has no gs1:{name} link"
        return None, _problem(404, "link_not_found", "Not found", detail, "linkType", head)
    return chosen, None


def _needs_brand_links(own: list[Link], link_type: str | None, wants_linkset: bool) -> bool:
    """The verdict (a serialised item's default) and our own link types need no brand links,
    so the scan path stays free of that read; the ``Link`` header then lists ours and points
    to the linkset, which lists all."""
    if wants_linkset or not own:
        return True
    if link_type is None:
        return False
    return parse_link_type(link_type) not in {item.link_type for item in own}


async def _answer(
    request: Request[Any, Any, Any], link: DigitalLink, link_type: str | None
) -> Response[Any] | Template:
    settings = _settings(request)
    head = request.method == "HEAD"
    base = settings.gateway.resolver_base_url
    anchor = anchor_of(base, link)
    links = own_links(base, link)
    wants_linkset = _wants_linkset(request, link_type)
    if _needs_brand_links(links, link_type, wants_linkset):
        links += await _brand_links(request).links_for(link)
    headers = {**CORS_HEADERS, "Link": link_header(anchor, links)}
    headers["Vary"] = "Accept, Accept-Language"
    if wants_linkset or (link_type is None and not links):
        body = linkset_document(anchor, links)
        return Response(b"" if head else body, media_type=LINKSET_MEDIA_TYPE, headers=headers)
    chosen, missing = _pick(request, links, link_type)
    if missing is not None:
        missing.headers.update(headers)
        return missing
    if chosen is None:  # no default link: the linkset lists what there is
        body = linkset_document(anchor, links)
        return Response(b"" if head else body, media_type=LINKSET_MEDIA_TYPE, headers=headers)
    if chosen.answer == VERDICT:
        if head:  # a HEAD says the verdict page is here; it is not a scan
            return Response(b"", media_type="text/html", headers=headers)
        return await verdict_answer(request, link, headers)
    if chosen.answer == RECALL:
        state = await _recall_state(request, link)
        return Response(b"" if head else state, headers={**headers, "Cache-Control": "no-store"})
    if chosen.languages:
        headers["Content-Language"] = chosen.languages[0]
    return Response(b"", status_code=307, headers={**headers, "Location": chosen.href})


@route(
    "/{path:path}",
    http_method=["GET", "HEAD", "OPTIONS"],
    tags=["resolver"],
    summary="Resolve a GS1 Digital Link (any path form, compressed too)",
    status_code=200,
)
async def resolve(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[Any] | Template:
    """The URL printed on the pack, as the GS1-Conformant Resolver standard answers it:
    `linkType` (a GS1 link type, `linkset` or `all`), `Accept: application/linkset+json`,
    `Accept-Language`. Without `linkType`, a serialised item's default link is its verdict:
    browsers (`Accept: text/html`) get a page, others JSON with a `verdict`. A malformed link
    is a 400 problem naming `path`; an unknown link type a 404."""
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or path
    if not _looks_like_digital_link(raw_path):
        raise NotFoundException()
    if request.method == "OPTIONS":
        return Response(b"", status_code=204, headers=_PREFLIGHT_HEADERS)
    query = request.url.query
    head = request.method == "HEAD"
    try:
        link = parse_digital_link(raw_path + (f"?{query}" if query else ""), field="path")
    except InvalidInput as exc:
        return _problem(400, exc.code, "Malformed GS1 Digital Link", exc.detail, "path", head)
    return await _answer(request, link, request.query_params.get("linkType"))


@get("/.well-known/gs1resolver", tags=["resolver"], sync_to_thread=False)
def resolver_description(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The resolver description (GS1-Conformant Resolver standard): root, supported primary
    keys and link types, linkset and language support."""
    base = _settings(request).gateway.resolver_base_url.rstrip("/")
    return Response(
        {
            "name": "scanguard GS1 resolver",
            "resolverRoot": base,
            "supportedPrimaryKeys": ["01"],
            "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
            "activeLinkTypes": {f"gs1:{name}": title for name, title in LINK_TYPES.items()},
            "linkTypeDefaultCanBeLinkset": True,
            "linkTypeDefaultCanBeAll": True,
            "supportsLanguageVariants": True,
            "supportsSemanticInterpretation": False,
            "validatesAIcombinations": True,
            "supportsCompressedLinks": True,
        },
        headers=CORS_HEADERS,
    )


ROUTES: list[Any] = [resolver_description, resolve]
