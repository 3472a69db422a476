"""Issuance benchmark: code generation, CSV export throughput and memory. Not a test.

Run::

    python -m loadtests.bench_issue [--count N] [--workers W] [--out PATH] [--rss-counts A,B]

Prints ``name: value`` lines: the cost of the primitives (one keyed BLAKE2b, ``verify_code``,
``encode_code``), ``iter_codes`` codes/s in one process, a baseline (writing ``count`` fixed
lines of the export's row length to the same file), the export with 1 worker and with W
workers (codes/s, ratio to the baseline, file size), and the peak RSS of an export run in a
fresh child process for each count in ``--rss-counts`` (to show memory does not grow with N).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from anticounterfeit.codes.export import DEFAULT_CHUNK_SIZE, iter_export_csv, write_export_file
from anticounterfeit.codes.format import CodeKey, Keyring, encode_code, iter_codes, verify_code

__all__ = ["main"]

GTIN = "09506000134352"
BASE_URL = "https://scan.example.com/dl"


def _print(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _ns_per_op(stmt: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(stmt, number=number, repeat=5))
    return best / number * 1e9


def _bench_primitives(key: CodeKey) -> None:
    ring = Keyring([key])
    code = encode_code(key, 123_456, GTIN)
    forged = code[:-1] + ("2" if code[-1] != "2" else "3")
    proto = hashlib.blake2b(digest_size=8, key=key.mask_key)
    data = b"\x00" * 6

    def keyed_copy() -> bytes:
        h = proto.copy()
        h.update(data)
        return h.digest()

    def keyed_new() -> bytes:
        return hashlib.blake2b(data, digest_size=8, key=key.mask_key).digest()

    n = 100_000
    _print("blake2b_keyed_copy_ns", f"{_ns_per_op(keyed_copy, n):.0f}")
    _print("blake2b_keyed_new_ns", f"{_ns_per_op(keyed_new, n):.0f}")
    _print("verify_code_genuine_ns", f"{_ns_per_op(lambda: verify_code(ring, code, GTIN), n):.0f}")
    _print("verify_code_forged_ns", f"{_ns_per_op(lambda: verify_code(ring, forged, GTIN), n):.0f}")
    _print("verify_code_malformed_ns", f"{_ns_per_op(lambda: verify_code(ring, 'X', GTIN), n):.0f}")
    _print("encode_code_ns", f"{_ns_per_op(lambda: encode_code(key, 123_456, GTIN), n):.0f}")


def _bench_iter_codes(key: CodeKey, count: int) -> float:
    start = time.perf_counter()
    for _ in iter_codes(key, GTIN, 0, count):
        pass
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    _print("iter_codes_codes_per_s", f"{rate:,.0f}")
    return rate


def _bench_baseline(key: CodeKey, count: int, out: Path) -> float:
    sample = "".join(iter_export_csv(key, GTIN, 0, 1000, resolver_base_url=BASE_URL))
    header, _, rows = sample.partition("\n")
    row_len = round(len(rows) / 1000)
    line = ("x" * (row_len - 1) + "\n").encode("ascii")
    chunk = line * DEFAULT_CHUNK_SIZE
    start = time.perf_counter()
    with out.open("wb") as f:
        f.write((header + "\n").encode("ascii"))
        full, rest = divmod(count, DEFAULT_CHUNK_SIZE)
        for _ in range(full):
            f.write(chunk)
        f.write(line * rest)
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    _print("baseline_row_bytes", row_len)
    _print("baseline_fixed_lines_per_s", f"{rate:,.0f}")
    return rate


def _bench_export(key: CodeKey, count: int, workers: int, out: Path, baseline: float) -> float:
    start = time.perf_counter()
    rows = write_export_file(out, key, GTIN, 0, count, resolver_base_url=BASE_URL, workers=workers)
    elapsed = time.perf_counter() - start
    assert rows == count
    rate = count / elapsed
    _print(f"export_workers_{workers}_codes_per_s", f"{rate:,.0f}")
    _print(f"export_workers_{workers}_seconds", f"{elapsed:.2f}")
    _print(f"export_workers_{workers}_vs_baseline", f"{rate / baseline:.3f}")
    _print("export_file_bytes", f"{out.stat().st_size:,}")
    return rate


def _peak_rss_kib() -> tuple[int, int]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # largest reaped child
    return own, children


def _export_only(count: int, workers: int, out: Path) -> None:
    """Child mode: one export, then the peak RSS of this process and of its workers."""
    key = CodeKey.from_secret(1, secrets.token_bytes(32))
    start = time.perf_counter()
    write_export_file(out, key, GTIN, 0, count, resolver_base_url=BASE_URL, workers=workers)
    elapsed = time.perf_counter() - start
    own, children = _peak_rss_kib()
    _print("rss_export_seconds", f"{elapsed:.2f}")
    _print("rss_parent_peak_kib", own)
    _print("rss_worker_peak_kib", children)
    _print("rss_tree_peak_kib_upper_bound", own + workers * children)


def _bench_rss(counts: list[int], workers: int, out: Path) -> None:
    for count in counts:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "loadtests.bench_issue",
                "--export-only",
                "--count",
                str(count),
                "--workers",
                str(workers),
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        for line in result.stdout.splitlines():
            name, _, value = line.partition(": ")
            _print(f"{name}@{count}", value)
        out.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print ``name: value`` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "scanguard_bench_export.csv"
    )
    parser.add_argument(
        "--rss-counts",
        default="1000000,10000000",
        help="comma-separated export sizes to run in fresh child processes for peak RSS "
        "('' to skip)",
    )
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.export_only:
        _export_only(args.count, args.workers, args.out)
        return

    _print("python", sys.version.split()[0])
    _print("cpu_count", os.cpu_count())
    _print("count", f"{args.count:,}")
    key = CodeKey.from_secret(1, secrets.token_bytes(32))
    _bench_primitives(key)
    _bench_iter_codes(key, args.count)
    baseline = _bench_baseline(key, args.count, args.out)
    _bench_export(key, args.count, 1, args.out, baseline)
    if args.workers != 1:
        _bench_export(key, args.count, args.workers, args.out, baseline)
    args.out.unlink(missing_ok=True)
    counts = [int(c) for c in args.rss_counts.split(",") if c.strip()]
    if counts:
        _bench_rss(counts, args.workers, args.out)


if __name__ == "__main__":
    main()
