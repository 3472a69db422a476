"""An item's links and how a request picks one: link type, default, language; the RFC 9264
linkset document and the RFC 8288 ``Link`` header that describe them.

Pure functions over ``Link`` values: the routes gather the links (ours from
``own_links``, the brand's from ``gateway.resolver.ports``) and answer with what these pick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from anticounterfeit.gs1.digital_link import DigitalLink
from anticounterfeit.gs1.vocabulary import link_type_uri

__all__ = [
    "LINKSET_MEDIA_TYPE",
    "Link",
    "anchor_of",
    "choose",
    "default_link",
    "link_header",
    "linkset_document",
    "own_links",
    "parse_accept_language",
]

LINKSET_MEDIA_TYPE = "application/linkset+json"

# quote() costs microseconds per call on the verdict path; nearly every serial and anchor
# needs no escaping (or only of ":" and "/"), so those skip it.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")
_PLAIN_URI = re.compile(r"[A-Za-z0-9._~:/-]*")


def _component(text: str) -> str:
    """``text`` percent-encoded as one URI component (everything but unreserved escaped)."""
    if _UNRESERVED.fullmatch(text):
        return text
    if _PLAIN_URI.fullmatch(text):
        return text.replace(":", "%3A").replace("/", "%2F")
    return quote(text, safe="")


#: ``Link.answer`` values of the links scanguard answers itself instead of redirecting.
VERDICT = "verdict"
RECALL = "recall"


@dataclass(frozen=True, slots=True)
class Link:
    """One link of an item: a GS1 link type (vocabulary term, e.g. ``pip``) to a target."""

    link_type: str
    href: str
    title: str
    media_type: str | None = None
    languages: tuple[str, ...] = ()
    default: bool = False
    answer: str | None = None  # VERDICT | RECALL: answered in place, not redirected


def anchor_of(base_url: str, link: DigitalLink) -> str:
    """The item's canonical URI on this resolver (key and qualifiers, no query)."""
    path = f"/01/{link.gtin}"
    for ai, value in (("22", link.cpv), ("10", link.lot), ("21", link.serial)):
        if value is not None:
            path += f"/{ai}/" + _component(value)
    return base_url.rstrip("/") + path


def own_links(base_url: str, link: DigitalLink) -> list[Link]:
    """scanguard's own services as links. A serialised item's default is the verdict
    (``verificationService``); its recall state, EPCIS history and loyalty claim are links too.
    A product or batch (no serial) has no verdict: its links are the brand's."""
    if link.serial is None:
        return []
    anchor = anchor_of(base_url, link)
    base = base_url.rstrip("/")
    return [
        Link(
            "verificationService",
            f"{anchor}?linkType=gs1:verificationService",
            "Is this genuine?",
            "text/html",
            default=True,
            answer=VERDICT,
        ),
        Link(
            "recallStatus",
            f"{anchor}?linkType=gs1:recallStatus",
            "Recall status",
            "application/json",
            answer=RECALL,
        ),
        Link(
            "epcis",
            f"{base}/v1/admin/epcis/codes?code=" + _component(anchor),
            "EPCIS 2.0 event history (brand credentials)",
            "application/ld+json",
        ),
        Link(
            "loyaltyProgram",
            f"{base}/v1/loyalty/claims",
            "Claim loyalty points for this code (POST, consumer token)",
            "application/json",
        ),
    ]


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of ``Accept-Language`` in preference order (q=0 dropped), lower case."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _language_rank(link: Link, wanted: list[str]) -> int:
    """Lower is better: exact tag, then same primary language, then language-neutral links."""
    languages = [lang.lower() for lang in link.languages]
    for rank, tag in enumerate(wanted):
        if tag in languages or (tag == "*" and languages):
            return 2 * rank
        if any(lang.split("-")[0] == tag.split("-")[0] for lang in languages):
            return 2 * rank + 1
    return 2 * len(wanted) + (0 if not languages else 1)


def choose(links: list[Link], link_type: str, accept_language: str | None) -> Link | None:
    """The link of ``link_type`` in the best language for ``accept_language`` (None if none)."""
    candidates = [item for item in links if item.link_type == link_type]
    if not candidates:
        return None
    wanted = parse_accept_language(accept_language)
    return min(candidates, key=lambda item: _language_rank(item, wanted))


def default_link(links: list[Link], accept_language: str | None) -> Link | None:
    """The default link: ours (the verdict) for a serialised item, else the brand's default."""
    defaults = [item for item in links if item.default]
    if not defaults:
        return None
    wanted = parse_accept_language(accept_language)
    return min(defaults, key=lambda item: _language_rank(item, wanted))


def _target(item: Link) -> dict[str, Any]:
    target: dict[str, Any] = {"href": item.href, "title": item.title}
    if item.media_type:
        target["type"] = item.media_type
    if item.languages:
        target["hreflang"] = list(item.languages)
    return target


def linkset_document(anchor: str, links: list[Link]) -> dict[str, Any]:
    """RFC 9264 ``application/linkset+json``: one context object, relation types as the GS1
    vocabulary URIs, the default link also under ``gs1:defaultLink``."""
    context: dict[str, Any] = {"anchor": anchor}
    for item in links:
        context.setdefault(link_type_uri(item.link_type), []).append(_target(item))
    defaults = [_target(item) for item in links if item.default]
    if defaults:
        context[link_type_uri("defaultLink")] = defaults[:1]
        if len(defaults) > 1:
            context[link_type_uri("defaultLinkMulti")] = defaults
    return {"linkset": [context]}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link_header(anchor: str, links: list[Link]) -> str:
    """The ``Link`` header: every link plus a pointer to the linkset (RFC 9264 ``linkset``)."""
    parts = [
        f'<{anchor}?linkType=linkset>; rel="linkset"; type="{LINKSET_MEDIA_TYPE}"',
    ]
    for item in links:
        part = f'<{item.href}>; rel="{link_type_uri(item.link_type)}"'
        if item.media_type:
            part += f'; type="{item.media_type}"'
        for lang in item.languages:
            part += f"; hreflang={_quoted(lang)}"
        # a title is free text: keep the header ASCII (RFC 8288 title* would carry the rest)
        part += "; title=" + _quoted(item.title.encode("ascii", "replace").decode())
        parts.append(part)
    return ", ".join(parts)
