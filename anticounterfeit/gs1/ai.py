"""GS1 Application Identifiers: which AIs exist, what their values look like, and a check of one
value against its AI (format, length, character set, check digit, date).

The table is data, not code: ``data/gs1_ai_table.json`` was extracted from GS1's Digital Link
toolkit (source, commit and licence in the file's ``_source``): per AI its title, format
(``N14``, ``X..20``, ``N13+X..17``), type (``I`` primary key, ``Q`` key qualifier, ``D`` data
attribute) and check-digit position, plus the tables the compression standard needs
(``gateway`` resolution and ``anticounterfeit.gs1.compression`` share it). It is read once, on
first use.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from anticounterfeit.gs1.gtin import gtin_check_digit
from kernel.errors import InvalidInput

__all__ = [
    "AiComponent",
    "AiSpec",
    "ai_spec",
    "ai_table",
    "check_ai_value",
    "compression_tables",
]

_TABLE_PATH = Path(__file__).with_name("data") / "gs1_ai_table.json"
_CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
# Dates and date-times (GS1 General Specifications 7.12): YYMMDD, where DD may be 00 ("end of
# the month") for the "best before"-style AIs; YYMMDDHHMM for 7003, 4324 and 4325.
_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17", "4326", "7006"})
_DATETIME_AIS = frozenset({"7003", "4324", "4325"})
_DAY_ZERO_OK = frozenset({"12", "13", "15", "16", "17"})


@dataclass(frozen=True, slots=True)
class AiComponent:
    """One part of an AI value: numeric (``N``) or CSET 82 (``X``), fixed or at most ``length``."""

    numeric: bool
    length: int
    fixed: bool


@dataclass(frozen=True, slots=True)
class AiSpec:
    ai: str
    title: str
    kind: str  # I (primary key) | Q (key qualifier) | D (data attribute)
    components: tuple[AiComponent, ...]
    check_digit_at: int | None  # 1-based position of a mod-10 check digit, None when none
    qualifiers: tuple[str, ...] = ()


@cache
def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_TABLE_PATH.read_text(encoding="utf-8"))
    return data


def _components(fmt: list[dict[str, str]]) -> tuple[AiComponent, ...]:
    return tuple(
        AiComponent(
            numeric=part["E"] == "N",
            length=int(part.get("L") or part.get("M") or part.get("N") or 0),
            fixed="L" in part,
        )
        for part in fmt
    )


def _check_position(raw: str | None, components: tuple[AiComponent, ...]) -> int | None:
    if raw is None:
        return None
    if raw == "L":  # the last digit of the (numeric, fixed-length) value
        return components[0].length if components else None
    return int(raw)


@cache
def ai_table() -> dict[str, AiSpec]:
    """Every AI the table knows, by AI number."""
    raw = _raw()
    formats: dict[str, list[dict[str, str]]] = raw["compression"]["value_format"]
    table: dict[str, AiSpec] = {}
    for ai in sorted(set(raw["ais"]) | set(formats)):
        info = raw["ais"].get(ai, {})
        components = _components(formats.get(ai) or _format_of(info.get("format", "X..90")))
        table[ai] = AiSpec(
            ai=ai,
            title=info.get("title", ""),
            kind=info.get("type", "D"),
            components=components,
            check_digit_at=_check_position(info.get("checkDigit"), components),
            qualifiers=tuple(info.get("qualifiers") or ()),
        )
    return table


def _format_of(fmt: str) -> list[dict[str, str]]:
    """``N13+X..17`` → the compression table's component form (for AIs only in the AI list)."""
    parts: list[dict[str, str]] = []
    for piece in fmt.split("+"):
        match = re.fullmatch(r"([NX])(\.\.)?(\d+)", piece)
        if match is None:
            continue
        parts.append({"E": match.group(1), ("M" if match.group(2) else "L"): match.group(3)})
    return parts


def compression_tables() -> dict[str, Any]:
    """The compression standard's tables: ``ai_length_by_prefix``, ``value_format``,
    ``optimisations`` (as in the data file)."""
    tables: dict[str, Any] = _raw()["compression"]
    return tables


def ai_spec(ai: str) -> AiSpec | None:
    """The AI's specification, None for an AI the table does not know."""
    return ai_table().get(ai)


def _fail(detail: str, field: str) -> InvalidInput:
    return InvalidInput(detail, code="invalid_digital_link", field=field)


def _check_components(spec: AiSpec, value: str, where: str, field: str) -> None:
    pos = 0
    for index, part in enumerate(spec.components):
        last = index == len(spec.components) - 1
        if part.fixed:
            chunk = value[pos : pos + part.length]
            if len(chunk) != part.length:
                raise _fail(f"{where} must have {_describe(spec)}, got {value!r}", field)
        else:
            chunk = value[pos:] if last else value[pos : pos + part.length]
            if len(chunk) > part.length:
                raise _fail(f"{where} must have {_describe(spec)}, got {value!r}", field)
        if part.numeric and not (chunk == "" or (chunk.isascii() and chunk.isdigit())):
            raise _fail(f"{where} must be digits ({_describe(spec)}), got {value!r}", field)
        if not part.numeric and not _CSET82.issuperset(chunk):
            bad = next(ch for ch in chunk if ch not in _CSET82)
            raise _fail(f"{where} contains {bad!r}, not allowed in GS1 AI values (CSET 82)", field)
        pos += len(chunk)
    if pos != len(value):
        raise _fail(f"{where} must have {_describe(spec)}, got {value!r}", field)


def _describe(spec: AiSpec) -> str:
    form = "+".join(
        f"{'N' if c.numeric else 'X'}{'' if c.fixed else '..'}{c.length}" for c in spec.components
    )
    return f"{form} ({spec.title})" if spec.title else form


def _check_date(ai: str, value: str, where: str, field: str) -> None:
    year, month, day = 2000 + int(value[0:2]), int(value[2:4]), int(value[4:6])
    ok = 1 <= month <= 12 and (
        (day == 0 and ai in _DAY_ZERO_OK) or 1 <= day <= calendar.monthrange(year, month)[1]
    )
    if ai in _DATETIME_AIS and len(value) >= 10:
        ok = ok and int(value[6:8]) <= 23 and int(value[8:10]) <= 59
    if not ok:
        kind = "date-time YYMMDDHHMM" if ai in _DATETIME_AIS else "date YYMMDD"
        raise _fail(f"{where} must be a real {kind}, got {value!r}", field)


def check_ai_value(ai: str, value: str, *, field: str = "url") -> str:
    """Validate ``value`` for ``ai``: known AI, format, character set, check digit, date.

    Raises ``InvalidInput`` (code ``invalid_digital_link``, naming ``field``, the detail naming
    the AI) when anything is wrong; returns ``value``.
    """
    where = f"{field}: AI ({ai})"
    spec = ai_spec(ai)
    if spec is None:
        raise _fail(f"{where} is not a known GS1 Application Identifier", field)
    if not value:
        raise _fail(f"{where} is empty", field)
    _check_components(spec, value, where, field)
    at = spec.check_digit_at
    if at is not None and len(value) >= at and value[:at].isdigit():
        expected = gtin_check_digit(value[: at - 1])
        if int(value[at - 1]) != expected:
            raise _fail(f"{where} has check digit {value[at - 1]}, expected {expected}", field)
    if ai in _DATE_AIS or ai in _DATETIME_AIS:
        _check_date(ai, value, where, field)
    return value
