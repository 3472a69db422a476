"""GS1 Digital Link URIs: parse what a phone scanned, format what goes on the label.

Scope (GS1 Digital Link URI syntax 1.4, https://ref.gs1.org/standards/digital-link/): the
primary key ``/01/{gtin}`` followed by the key qualifiers in their fixed order ``/22/{cpv}``,
``/10/{lot}``, ``/21/{serial}`` (each optional, at most once), path segments percent-encoded,
data attributes (``17`` = expiry YYMMDD, ...) in the query string, each checked against the AI
table (``anticounterfeit.gs1.ai``: known AI, format, check digit, real dates); non-numeric query
keys (``linkType``, a brand's own) pass through. Any host and any path prefix are accepted, so a
brand may run its resolver at ``https://brand.example/dl``; the path is split at the right-most
``01`` that is followed by a valid key-qualifier path, as the standard reads it. Compressed and
partially compressed links (``anticounterfeit.gs1.compression``) and the bracketed
element-string form ``(01)...(10)...(21)...`` are accepted too. Numeric AIs only; the old
lowercase aliases (``gtin``, ``ser``) are not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from anticounterfeit.gs1.ai import ai_spec, check_ai_value
from anticounterfeit.gs1.compression import COMPRESSED_SEGMENT_RE, decompress_segment
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.errors import InvalidInput

__all__ = [
    "CSET82",
    "QUALIFIER_MAX_LENGTH",
    "DigitalLink",
    "digital_link_prefix",
    "format_digital_link",
    "is_cset82",
    "parse_digital_link",
]

#: GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
assert len(CSET82) == 82

#: Key qualifiers after /01/, in the order the standard requires, with their names and limits.
_QUALIFIERS: dict[str, tuple[int, str]] = {"22": (0, "cpv"), "10": (1, "lot"), "21": (2, "serial")}
QUALIFIER_MAX_LENGTH: dict[str, int] = {"cpv": 20, "lot": 20, "serial": 20}

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_INPUT = 2048
_ELEMENT_RE = re.compile(r"\((\d{2,4})\)([^()]*)")
# The shape nearly every scan has: ``https://host[:port]/01/{gtin}/21/{serial}`` (or the bare
# path), lowercase scheme, no path prefix, no lot, no query, fragment or percent-escape, and a
# serial of 1-20 letters/digits (a subset of CSET 82 within the length limit). Such input passes
# every check of the general parser except the GTIN's, which the fast path still runs; anything
# else (including every malformed input) takes the general path and fails there as before.
_SIMPLE_RE = re.compile(
    r"(?:https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?)?/01/([0-9]+)/21/([0-9A-Za-z]{1,20})"
)


def is_cset82(value: str) -> bool:
    """True if every character of ``value`` is in GS1 CSET 82."""
    return CSET82.issuperset(value)


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A parsed GS1 Digital Link: GTIN-14, key qualifiers and query data attributes."""

    gtin: str
    serial: str | None = None
    lot: str | None = None
    cpv: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _fail(detail: str, field_name: str) -> InvalidInput:
    return InvalidInput(detail, code="invalid_digital_link", field=field_name)


def _check_qualifier(name: str, value: str, field_name: str) -> str:
    if not value:
        raise _fail(f"{field_name}: {name} is empty", field_name)
    limit = QUALIFIER_MAX_LENGTH[name]
    if len(value) > limit:
        raise _fail(
            f"{field_name}: {name} has {len(value)} characters, at most {limit} allowed",
            field_name,
        )
    if not is_cset82(value):
        bad = next(ch for ch in value if ch not in CSET82)
        raise _fail(
            f"{field_name}: {name} contains {bad!r}, not allowed in GS1 AI values (CSET 82)",
            field_name,
        )
    return value


def _check_attributes(pairs: list[tuple[str, str]], field_name: str) -> dict[str, str]:
    """Query-string pairs: numeric keys are GS1 data attributes (known AI, valid value);
    other keys (``linkType``, ``context``, a brand's own) pass through as text."""
    attributes: dict[str, str] = {}
    for key, value in pairs:
        if key in attributes:
            raise _fail(f"{field_name}: query attribute {key!r} appears twice", field_name)
        if _CONTROL_RE.search(key) or _CONTROL_RE.search(value):
            raise _fail(
                f"{field_name}: query attribute {key!r} contains a control character",
                field_name,
            )
        if key.isascii() and key.isdigit():
            spec = ai_spec(key)
            if spec is not None and spec.kind != "D":
                raise _fail(
                    f"{field_name}: AI ({key}) is a primary key or key qualifier; "
                    "it belongs in the path, not the query string",
                    field_name,
                )
            check_ai_value(key, value, field=field_name)
        attributes[key] = value
    return attributes


def _from_pairs(pairs: list[tuple[str, str]], field_name: str, what: str) -> DigitalLink:
    """A link from (AI, value) pairs: an element string's or a compressed link's content."""
    found: dict[str, str] = {}
    for ai, value in pairs:
        if ai in found:
            raise _fail(f"{field_name}: AI ({ai}) appears twice", field_name)
        found[ai] = value
    if "01" not in found:
        raise _fail(f"{field_name}: {what} has no GTIN (01) primary key", field_name)
    gtin = normalize_gtin(found.pop("01"), field=field_name)
    qualifiers: dict[str, str] = {}
    for ai, (_, name) in _QUALIFIERS.items():
        if ai in found:
            qualifiers[name] = _check_qualifier(name, found.pop(ai), field_name)
    attributes = _check_attributes(sorted(found.items()), field_name)
    return DigitalLink(gtin=gtin, attributes=attributes, **qualifiers)


def _parse_element_string(text: str, field_name: str) -> DigitalLink:
    pos = 0
    pairs: list[tuple[str, str]] = []
    for match in _ELEMENT_RE.finditer(text):
        if match.start() != pos:
            break
        pairs.append((match.group(1), match.group(2)))
        pos = match.end()
    if pos != len(text) or not any(ai == "01" for ai, _ in pairs):
        raise _fail(
            f"{field_name}: not a GS1 element string of the form (01)gtin(21)serial", field_name
        )
    return _from_pairs(pairs, field_name, "the element string")


def _primary_key_index(segments: list[str]) -> int | None:
    """Where the GTIN primary key ``01`` starts: the RIGHT-MOST ``01`` after which the path is
    ``{gtin}`` and then only ``/AI/value`` key-qualifier pairs (GS1 Digital Link URI syntax:
    the path is read from the right, so a resolver prefix may itself contain ``/01``). When no
    ``01`` fits that shape, the right-most ``01`` followed by digits, so the error can name
    what is wrong after it."""
    fallback = None
    for i in range(len(segments) - 2, -1, -1):
        if segments[i] != "01":
            continue
        rest = segments[i + 2 :]
        if len(rest) % 2 == 0 and all(ai in _QUALIFIERS for ai in rest[::2]):
            return i
        if fallback is None and segments[i + 1].isascii() and segments[i + 1].isdigit():
            fallback = i
    return fallback


def _compressed(segment: str, query: str, field_name: str, gtin: str | None) -> DigitalLink:
    """A compressed link (``gtin`` given: only what follows an uncompressed primary key)."""
    pairs = decompress_segment(segment, field=field_name)
    if gtin is not None:
        pairs = [("01", gtin), *pairs]
    pairs += parse_qsl(query, keep_blank_values=True, errors="replace")
    return _from_pairs(pairs, field_name, "the compressed link")


def _parse_path(path: str, query: str, field: str) -> DigitalLink:
    segments = path.split("/")
    if segments and segments[-1] == "" and len(segments) > 1:
        segments.pop()  # tolerate one trailing slash
    start = _primary_key_index(segments)
    if start is None:
        last = segments[-1] if segments else ""
        if COMPRESSED_SEGMENT_RE.fullmatch(last):
            return _compressed(last, query, field, None)
        raise _fail(f"{field} has no /01/{{gtin}} primary key in its path", field)
    gtin = normalize_gtin(segments[start + 1], field=field)
    rest = segments[start + 2 :]
    if len(rest) == 1 and COMPRESSED_SEGMENT_RE.fullmatch(rest[0]) and rest[0] not in _QUALIFIERS:
        return _compressed(rest[0], query, field, gtin)  # partially compressed
    if len(rest) % 2:
        raise _fail(
            f"{field}: path segment {rest[-1]!r} after the GTIN has no value (expected /AI/value)",
            field,
        )
    qualifiers: dict[str, str] = {}
    last_rank = -1
    for i in range(0, len(rest), 2):
        ai, raw = rest[i], rest[i + 1]
        spec = _QUALIFIERS.get(ai)
        if spec is None:
            raise _fail(
                f"{field}: /{ai}/ is not a key qualifier of GTIN (allowed: 22, 10, 21)", field
            )
        rank, name = spec
        if rank <= last_rank:
            raise _fail(f"{field}: key qualifiers must appear in the order 22, 10, 21", field)
        last_rank = rank
        qualifiers[name] = _check_qualifier(name, unquote(raw, errors="replace"), field)
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    attributes = _check_attributes(pairs, field)
    return DigitalLink(gtin=gtin, attributes=attributes, **qualifiers)


def parse_digital_link(url_or_path: str, *, field: str = "url") -> DigitalLink:
    """Parse a GS1 Digital Link URL (uncompressed, compressed or partially compressed), a bare
    path (``/01/...``, ``/dl/01/...``, ``/{compressed}``) or ``(01)..(21)..`` element text.

    Raises ``InvalidInput`` naming ``field``: code ``invalid_gtin`` for a bad GTIN, otherwise
    ``invalid_digital_link`` with a detail saying which part is wrong. Never raises anything
    else for ``str`` input.
    """
    text = url_or_path.strip()
    if not text:
        raise _fail(f"{field} is empty", field)
    if len(text) > _MAX_INPUT:
        raise _fail(f"{field} is longer than {_MAX_INPUT} characters", field)
    simple = _SIMPLE_RE.fullmatch(text)
    if simple is not None:
        return DigitalLink(
            gtin=normalize_gtin(simple.group(1), field=field), serial=simple.group(2), attributes={}
        )
    if text.startswith("("):
        return _parse_element_string(text, field)
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise _fail(f"{field} is not a valid URL: {exc}", field) from None
    is_path = text.startswith("/")
    if not is_path and (parts.scheme.lower() not in ("http", "https") or not parts.netloc):
        raise _fail(f"{field} must be an http(s) URL or a path starting with /01/", field)
    return _parse_path(parts.path, parts.query, field)


def digital_link_prefix(base_url: str, gtin14: str, lot: str | None = None) -> str:
    """Return ``{base_url}/01/{gtin14}[/10/{lot}]/21/``: append a percent-encoded serial.

    Used by the export to build millions of URLs with one concatenation each.
    """
    base = base_url.rstrip("/")
    prefix = f"{base}/01/{gtin14}"
    if lot is not None:
        prefix += "/10/" + quote(lot, safe="")
    return prefix + "/21/"


def format_digital_link(base_url: str, gtin14: str, serial: str, lot: str | None = None) -> str:
    """Return ``{base_url}/01/{gtin14}[/10/{lot}]/21/{serial}``, lot and serial percent-encoded.

    ``base_url`` is the resolver root (a trailing slash is dropped). Everything outside the
    RFC 3986 unreserved set is percent-encoded, as GS1 Digital Link requires for CSET 82
    characters such as ``/``, ``%``, ``?`` and ``#``.
    """
    return digital_link_prefix(base_url, gtin14, lot) + quote(serial, safe="")
