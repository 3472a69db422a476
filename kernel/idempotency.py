"""Idempotency keys on writes: one design for every endpoint that takes an ``Idempotency-Key``.

The first request with a key does the work and leaves a record of it in the domain's own
table, unique on (owner, key), together with the request's fingerprint (or the fields that
make up the request). A repeat whose request matches replays that record; the same key with
a different request is 409 ``idempotency_key_reused``. Two first requests racing with one
key: the work runs inside a SAVEPOINT, so the loser's unique violation undoes only its own
work (its writes and locks) and it replays the winner's record once that is committed.

A domain supplies three things to ``run_once``: how to find the record of a key, whether a
found record matches this request, and the work itself.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from litestar.params import HeaderParameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Conflict

__all__ = [
    "IDEMPOTENCY_HEADER",
    "IdempotencyKeyHeader",
    "fingerprint",
    "idempotency_key_header",
    "key_reused",
    "run_once",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
R = TypeVar("R")


def idempotency_key_header(max_length: int, *, description: str | None = None) -> HeaderParameter:
    """The ``Idempotency-Key`` header parameter of an endpoint.

    Use as ``Annotated[str | None, idempotency_key_header(100)] = None``. Each endpoint keeps
    its documented maximum length (and description, if any), so the factory takes them.
    """
    return HeaderParameter(
        name=IDEMPOTENCY_HEADER, min_length=1, max_length=max_length, description=description
    )


IdempotencyKeyHeader = Annotated[
    str | None,
    idempotency_key_header(
        200, description="repeat-safe retries: the same key and request replay the first answer"
    ),
]


def fingerprint(request: Any) -> str:
    """A stable digest of a request document (key order and value types normalised)."""
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_reused() -> Conflict:
    return Conflict(
        "this Idempotency-Key was used for a different request",
        code="idempotency_key_reused",
        field=IDEMPOTENCY_HEADER,
    )


async def run_once(
    session: AsyncSession,
    key: str | None,
    *,
    find: Callable[[], Awaitable[R | None]],
    matches: Callable[[R], bool | Awaitable[bool]],
    work: Callable[[], Awaitable[R]],
) -> tuple[R, bool]:
    """``(record, replayed)``: the record ``work`` made, or the one an earlier request with
    ``key`` made (``replayed``). Without a key the work simply runs."""
    if key is None:
        return await work(), False
    earlier = await find()
    if earlier is not None:
        return await _replayed(earlier, matches), True
    try:
        async with session.begin_nested():
            record = await work()
    except IntegrityError:
        earlier = await find()
        if earlier is None:  # a different constraint failed: not a race on the key
            raise
        return await _replayed(earlier, matches), True
    return record, False


async def _replayed(record: R, matches: Callable[[R], bool | Awaitable[bool]]) -> R:
    same = matches(record)
    if inspect.isawaitable(same):
        same = await same
    if not same:
        raise key_reused()
    return record
