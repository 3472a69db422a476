"""Print-file export of a roll of codes: streaming CSV, memory independent of the roll size.

One row per code: ``seq,code,url`` (+ ``pin`` when the product has a scratch-off PIN), where
``seq`` is the 0-based position within the roll (``index - start_index``) and ``url`` the GS1
Digital Link the QR encodes. Lines end with ``\\n``. No field ever needs CSV quoting: codes use
``codes.ALPHABET``, lot and serial are percent-encoded in the URL and the resolver base URL is
checked, so rows are built with plain string concatenation.

``write_export_file`` renders chunks in worker processes (``spawn`` start method: safe to call
from a threaded server) and writes them in order, so the file is byte-identical to the
sequential ``iter_export_csv`` output. At most ``2 * workers`` chunks are in flight.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from anticounterfeit.codes.format import ALPHABET, INDEX_LIMIT, PIN_LENGTHS, CodeKey, iter_codes
from anticounterfeit.gs1.digital_link import QUALIFIER_MAX_LENGTH, digital_link_prefix, is_cset82
from anticounterfeit.gs1.gtin import is_valid_gtin14
from kernel.errors import InvalidInput

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EXPORT_COLUMNS",
    "PIN_COLUMN",
    "export_header",
    "iter_export_csv",
    "write_export_file",
]

EXPORT_COLUMNS: tuple[str, ...] = ("seq", "code", "url")
PIN_COLUMN = "pin"
DEFAULT_CHUNK_SIZE = 10_000

_CSV_SPECIAL = frozenset(',"\r\n')
assert _CSV_SPECIAL.isdisjoint(ALPHABET)  # codes never need quoting
# Characters allowed in the resolver base URL: RFC 3986 unreserved + gen-delims/sub-delims that
# can appear in a scheme://host[:port]/path, minus the CSV specials (',' and '"').
_URL_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/@!$&'()*+;=%"
)
assert _CSV_SPECIAL.isdisjoint(_URL_SAFE)


def export_header(pin_length: int | None = None) -> str:
    """Return the CSV header line for an export with or without the PIN column."""
    columns = EXPORT_COLUMNS + ((PIN_COLUMN,) if pin_length is not None else ())
    return ",".join(columns) + "\n"


def _validate(
    gtin14: str,
    start_index: int,
    count: int,
    resolver_base_url: str,
    lot: str | None,
    pin_length: int | None,
    chunk_size: int,
) -> str:
    """Check the export arguments; return the URL prefix every code is appended to."""
    if not is_valid_gtin14(gtin14):
        raise InvalidInput("gtin must be a valid 14-digit GTIN", code="invalid_gtin", field="gtin")
    if count < 0 or start_index < 0 or start_index + count > INDEX_LIMIT:
        raise ValueError("index range must lie within [0, 2**40)")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    parts = urlsplit(resolver_base_url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
        or not _URL_SAFE.issuperset(resolver_base_url)
    ):
        raise InvalidInput(
            "resolver base URL must be an http(s) URL without query, fragment, spaces, "
            "commas or quotes",
            code="invalid_resolver_url",
            field="resolver_base_url",
        )
    if lot is not None and not (lot and len(lot) <= QUALIFIER_MAX_LENGTH["lot"] and is_cset82(lot)):
        raise InvalidInput(
            "lot must be 1 to 20 characters of GS1 CSET 82", code="invalid_lot", field="lot"
        )
    if pin_length is not None and pin_length not in PIN_LENGTHS:
        raise InvalidInput(
            "pin_length must be between 4 and 12", code="invalid_pin_length", field="pin_length"
        )
    return digital_link_prefix(resolver_base_url, gtin14, lot)


def _render_chunk(
    key: CodeKey,
    gtin14: str,
    start_index: int,
    first: int,
    count: int,
    prefix: str,
    pin_length: int | None,
) -> str:
    """Rows for indexes ``first .. first + count - 1`` of a roll starting at ``start_index``."""
    codes = iter_codes(key, gtin14, first, count)
    if pin_length is None:
        return "".join([f"{i - start_index},{c},{prefix}{c}\n" for i, c in codes])
    # PINs inline (same as codes.derive_pin): one keyed-state copy per row, no re-validation.
    pin_copy = key._pin_proto.copy
    from_bytes = int.from_bytes
    modulus = 10**pin_length
    rows: list[str] = []
    append = rows.append
    for i, c in codes:
        h = pin_copy()
        h.update(i.to_bytes(5, "big"))
        pin = str(from_bytes(h.digest(), "big") % modulus).zfill(pin_length)
        append(f"{i - start_index},{c},{prefix}{c},{pin}\n")
    return "".join(rows)


def _chunk_ranges(start_index: int, count: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    end = start_index + count
    for first in range(start_index, end, chunk_size):
        yield first, min(chunk_size, end - first)


def iter_export_csv(
    key: CodeKey,
    gtin14: str,
    start_index: int,
    count: int,
    *,
    resolver_base_url: str,
    lot: str | None = None,
    pin_length: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[str]:
    """Yield the export CSV as text chunks: the header line, then ``chunk_size`` rows at a time.

    Arguments are checked before the first chunk is produced (``InvalidInput`` for a bad GTIN,
    resolver URL, lot or PIN length; ``ValueError`` for an index range outside [0, 2**40)).
    """
    prefix = _validate(gtin14, start_index, count, resolver_base_url, lot, pin_length, chunk_size)
    return _iter_chunks(key, gtin14, start_index, count, prefix, pin_length, chunk_size)


def _iter_chunks(
    key: CodeKey,
    gtin14: str,
    start_index: int,
    count: int,
    prefix: str,
    pin_length: int | None,
    chunk_size: int,
) -> Iterator[str]:
    yield export_header(pin_length)
    for first, n in _chunk_ranges(start_index, count, chunk_size):
        yield _render_chunk(key, gtin14, start_index, first, n, prefix, pin_length)


@functools.lru_cache(maxsize=16)
def _worker_key(kid: int, secret: bytes) -> CodeKey:
    return CodeKey.from_secret(kid, secret)


def _render_chunk_in_worker(
    kid: int,
    secret: bytes,
    gtin14: str,
    start_index: int,
    first: int,
    count: int,
    prefix: str,
    pin_length: int | None,
) -> bytes:
    key = _worker_key(kid, secret)
    return _render_chunk(key, gtin14, start_index, first, count, prefix, pin_length).encode("ascii")


def write_export_file(
    path: str | os.PathLike[str],
    key: CodeKey,
    gtin14: str,
    start_index: int,
    count: int,
    *,
    resolver_base_url: str,
    lot: str | None = None,
    pin_length: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the export CSV to ``path`` (same bytes as ``iter_export_csv``); return rows written.

    Chunks are rendered by ``workers`` processes (default ``os.cpu_count()``; 1 means in this
    process) and written in order. ``progress(done, total)`` is called after each chunk. The
    file is written as ``path + ".part"`` and renamed when complete, so a failed export never
    leaves a truncated file under the final name.
    """
    prefix = _validate(gtin14, start_index, count, resolver_base_url, lot, pin_length, chunk_size)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ValueError("workers must be >= 1")
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    done = 0
    try:
        with partial.open("wb") as out:
            out.write(export_header(pin_length).encode("ascii"))
            ranges = _chunk_ranges(start_index, count, chunk_size)
            if n_workers == 1:
                for first, n in ranges:
                    chunk = _render_chunk(key, gtin14, start_index, first, n, prefix, pin_length)
                    out.write(chunk.encode("ascii"))
                    done += n
                    if progress is not None:
                        progress(done, count)
            else:
                ctx = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
                    # A bounded window instead of pool.map: map submits every chunk up front
                    # and would hold finished chunks in memory if the disk is slower.
                    pending: deque[tuple[int, Future[bytes]]] = deque()
                    window = 2 * n_workers
                    for first, n in ranges:
                        pending.append(
                            (
                                n,
                                pool.submit(
                                    _render_chunk_in_worker,
                                    key.kid,
                                    key.secret,
                                    gtin14,
                                    start_index,
                                    first,
                                    n,
                                    prefix,
                                    pin_length,
                                ),
                            )
                        )
                        if len(pending) >= window:
                            done += _write_next(out, pending, count, done, progress)
                    while pending:
                        done += _write_next(out, pending, count, done, progress)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return done


def _write_next(
    out: BinaryIO,
    pending: deque[tuple[int, Future[bytes]]],
    total: int,
    done: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    n, future = pending.popleft()
    data = future.result()
    out.write(data)
    if progress is not None:
        progress(done + n, total)
    return n
