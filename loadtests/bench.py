"""Scan gateway baseline: how close the gateway gets to what the stack under it allows.

Run (``make bench``)::

    python -m loadtests.bench [--embedded] [--duration 15 --warmup 10 --repeats 3]

In one run: a scratch PostgreSQL schema and a unique Redis key prefix (or, with
``--embedded``, a SQLite file and the in-process store), migrations, seeding through the
services, then each server as a uvicorn subprocess with the same flags, loaded by ``wrk``
(``loadtests/wrk/walk.lua`` walks a request list, so every first scan uses a new code):

1. ``bare_redis``: ``loadtests.bare_apps`` doing only the gateway's Redis script (ceiling);
2. ``genuine``: the gateway, first scans (``POST /v1/scans``, each request a new code);
3. ``repeat``: the gateway, codes scanned before (``already_scanned`` / ``suspicious``);
4. ``forged``: the gateway, codes whose MAC does not verify (``counterfeit``, no I/O);
5. ``hello``: ``GET /hello`` on the bare app.

Each is warmed up, then measured ``--repeats`` times; the median is reported. Before and after
each scenario one request is checked for the verdict its code class must get. Prints
``name: value`` lines (requests/s, p50/p99 ms, errors, ratios, the gateway's peak RSS) and
writes them to ``var/bench/latest.json``. Exits 1 when a request failed (non-2xx, socket
errors, a code reused) or a verdict was wrong; goals are reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from kernel.migrate import upgrade
from kernel.runtime import Runtime, run_job
from kernel.settings import Settings
from loadtests.bench_measure import (
    CPU_GROUPS,
    SCENARIOS,
    TYPICAL_DIVERTED_SHARE,
    Measured,
    _prescan,
    _slices,
    check_verdict,
    machine,
    measure,
    measure_ab,
    measure_channel,
    typical_lines,
)
from loadtests.bench_servers import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    EXPECTED,
    GOALS,
    RESOLVER,
    WRK_MISSING,
    Server,
    _free_port,
    _log,
    _print,
    scan_line,
    scratch_storage,
    start_server,
    uvicorn_command,
    write_lines,
)
from loadtests.claim_scenario import CLAIM_ENV, check_claimed_again, claim_lines, seed_claims
from loadtests.regions import (
    random_client_ip,
)
from loadtests.seed import SeedPlan, seed

__all__ = ["main"]


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    parts = 1 + args.repeats
    channel_parts = 2 * parts if "channel" in args.scenarios else 0  # checks on + checks off
    typical_parts = 2 * parts if "channel_typical" in args.scenarios else 0
    claim_parts = parts if "claim" in args.scenarios else 0  # first scan + claim
    genuine_parts = parts * (2 if args.ab_tree else 1) + claim_parts + channel_parts + typical_parts
    per_run = args.codes_per_run
    tmp = Path(tempfile.mkdtemp(prefix="scanguard-bench-"))
    results: dict[str, Any] = {}
    problems: list[str] = []
    rss_kib: dict[int, int] = {}
    try:
        with scratch_storage(args, tmp) as env:
            os.environ.update(env)
            settings = Settings.from_env()
            _log(f"migrating {'SQLite' if args.embedded else 'PostgreSQL schema'}")
            upgrade(settings)
            products = 4
            plan = SeedPlan(
                products=products,
                codes=per_run * genuine_parts // products + 2_000,
                repeat=500,
                void=50,
                inactive=200,
                forged=20_000,
            )

            async def job(runtime: Runtime) -> dict[str, Any]:
                return await seed(runtime, plan)

            data = run_job(settings, job)
            tokens: list[str] = []
            if claim_parts:
                brand_id = data["brand"]["id"]
                tokens = run_job(settings, lambda rt: seed_claims(rt, brand_id))
                env.update(CLAIM_ENV)
            codes: dict[str, list[list[str]]] = data["codes"]
            # Reserve a few codes of each class for the verdict checks.
            check = {name: codes[name][:3] for name in codes}
            fresh = codes["fresh"][3:]
            rng_ips = [random_client_ip() for _ in range(1024)]

            def lines_for(pairs: Sequence[Sequence[str]], tag: str) -> list[str]:
                return [
                    scan_line(g, c, f"{tag}-{i % 4096}", rng_ips[i % len(rng_ips)])
                    for i, (g, c) in enumerate(pairs)
                ]

            all_slices = _slices(fresh, genuine_parts)
            typical_slices = all_slices[len(all_slices) - typical_parts :] if typical_parts else []
            region_of = {g: d["region"] for d in data["distributors"] for g in d["gtins"]}
            typical_files = [
                write_lines(
                    tmp / f"typical-{i}.tsv",
                    typical_lines(part, region_of, TYPICAL_DIVERTED_SHARE, random.Random(i)),
                )
                for i, part in enumerate(typical_slices)
            ]
            genuine_all = [
                write_lines(tmp / f"genuine-{i}.tsv", lines_for(part, "dev"))
                for i, part in enumerate(all_slices[: len(all_slices) - typical_parts])
            ]
            channel_files = genuine_all[len(genuine_all) - channel_parts :]
            claim_start = genuine_parts - typical_parts - channel_parts - claim_parts
            claim_slices = _slices(fresh, genuine_parts)[claim_start : claim_start + claim_parts]
            claim_files = [
                write_lines(
                    tmp / f"claim-{i}.tsv",
                    claim_lines(part, tokens, rng_ips, resolver=RESOLVER, tag=f"cdev{i}"),
                )
                for i, part in enumerate(claim_slices)
            ]
            genuine_all = genuine_all[: len(genuine_all) - channel_parts - claim_parts]
            genuine_files, genuine_base_files = genuine_all[:parts], genuine_all[parts:]
            repeat_lines = lines_for(codes["repeat"][3:] * 20, "rdev")
            repeat_file = write_lines(tmp / "repeat.tsv", repeat_lines)
            forged_file = write_lines(tmp / "forged.tsv", lines_for(codes["forged"][3:], "fdev"))
            bare_files = [
                write_lines(
                    tmp / f"bare-{i}.tsv",
                    [
                        scan_line("09506000134352", f"BARE{i}X{n:012d}", f"bdev-{n % 4096}", ip)
                        for n, ip in zip(
                            range(per_run), rng_ips * (per_run // 1024 + 1), strict=False
                        )
                    ],
                )
                for i in range(parts)
            ]
            hello_file = write_lines(tmp / "hello.tsv", ["GET\t/hello\t127.0.0.1\t"])

            bare_port, gw_port = _free_port(), _free_port()
            # ---- 1 and 5: the bare app --------------------------------------------------------
            bare = start_server(
                "bare",
                uvicorn_command(
                    "loadtests.bare_apps:create_bare_app", bare_port, args.workers, factory=True
                ),
                env,
                bare_port,
                "/hello",
            )
            try:
                if "bare_redis" in args.scenarios:
                    results["bare_redis"] = measure(
                        args, "bare_redis", bare.base_url, bare_files, reuse_ok=False
                    )
                if "hello" in args.scenarios:
                    results["hello"] = measure(
                        args, "hello", bare.base_url, [hello_file] * parts, reuse_ok=True
                    )
            finally:
                bare.stop()
            # ---- 2, 3, 4: the gateway --------------------------------------------------------
            base_gw: Server | None = None
            if args.ab_tree:
                base_port = _free_port()
                base_env = dict(kv.split("=", 1) for kv in args.base_env)
                base_gw = start_server(
                    "gateway_base",
                    uvicorn_command("admin_api.asgi:app", base_port, args.workers),
                    {**env, **base_env},
                    base_port,
                    "/health",
                    cwd=args.ab_tree,
                )
            gateway = start_server(
                "gateway",
                uvicorn_command("admin_api.asgi:app", gw_port, args.workers),
                env,
                gw_port,
                "/health",
            )
            try:
                url = gateway.base_url
                for cls in ("fresh", "inactive", "void", "forged"):
                    want = EXPECTED["genuine" if cls == "fresh" else cls]
                    gtin, code = check[cls][0]
                    if (err := check_verdict(url, gtin, code, want)) is not None:
                        problems.append(f"check {cls}: {err}")
                problems += asyncio.run(_prescan(url, codes["repeat"]))
                gtin, code = check["repeat"][0]
                if (err := check_verdict(url, gtin, code, EXPECTED["repeat"])) is not None:
                    problems.append(f"check repeat: {err}")
                if "genuine" in args.scenarios and base_gw is not None:
                    results["genuine_base"], results["genuine"] = measure_ab(
                        args,
                        "genuine",
                        base_gw.base_url,
                        url,
                        genuine_base_files,
                        genuine_files,
                        reuse_ok=False,
                    )
                elif "genuine" in args.scenarios:
                    results["genuine"] = measure(
                        args, "genuine", url, genuine_files, reuse_ok=False, server=gateway
                    )
                if "genuine" in args.scenarios:
                    # A code scanned during the warm-up must now be a repeat (not the first
                    # line: wrk calls request() once before connecting, and drops it).
                    gtin, code = fresh[5]
                    if (err := check_verdict(url, gtin, code, EXPECTED["repeat"])) is not None:
                        problems.append(f"check after genuine: {err}")
                    gtin, code = check["fresh"][1]
                    if (err := check_verdict(url, gtin, code, EXPECTED["genuine"])) is not None:
                        problems.append(f"check fresh after genuine: {err}")
                if "repeat" in args.scenarios and base_gw is not None:
                    results["repeat_base"], results["repeat"] = measure_ab(
                        args,
                        "repeat",
                        base_gw.base_url,
                        url,
                        [repeat_file] * parts,
                        [repeat_file] * parts,
                        reuse_ok=True,
                    )
                elif "repeat" in args.scenarios:
                    results["repeat"] = measure(
                        args, "repeat", url, [repeat_file] * parts, reuse_ok=True, server=gateway
                    )
                if "forged" in args.scenarios and base_gw is not None:
                    results["forged_base"], results["forged"] = measure_ab(
                        args,
                        "forged",
                        base_gw.base_url,
                        url,
                        [forged_file] * parts,
                        [forged_file] * parts,
                        reuse_ok=True,
                    )
                elif "forged" in args.scenarios:
                    results["forged"] = measure(
                        args, "forged", url, [forged_file] * parts, reuse_ok=True, server=gateway
                    )
                if "forged" in args.scenarios:
                    gtin, code = check["forged"][1]
                    if (err := check_verdict(url, gtin, code, EXPECTED["forged"])) is not None:
                        problems.append(f"check forged after run: {err}")
                for name, files in (("channel", channel_files), ("channel_typical", typical_files)):
                    if name in args.scenarios:
                        off, on = measure_channel(
                            args, env, url, name, files[:parts], files[parts:]
                        )
                        results[off.name], results[on.name] = off, on
                if "claim" in args.scenarios:
                    results["claim"] = measure(
                        args, "claim", url, claim_files, reuse_ok=False, server=gateway
                    )
                    pair = claim_slices[0][5]  # claimed during the warm-up
                    err = check_claimed_again(url, pair, "cdev0-5", tokens[5], resolver=RESOLVER)
                    if err is not None:
                        problems.append(f"check claim: {err}")
                health = httpx.get(url + "/health", timeout=5).json()
                if health.get("status") != "ok":
                    problems.append(f"gateway health after the run: {health}")
                rss_kib = gateway.peak_rss_kib()
            finally:
                gateway.stop()
                if base_gw is not None:
                    base_gw.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(args, results, problems, rss_kib)


def report(
    args: argparse.Namespace,
    results: dict[str, Measured],
    problems: list[str],
    rss_kib: dict[int, int],
) -> int:
    figures: dict[str, Any] = {}
    for name, m in results.items():
        problems += m.problems
        figures[f"{name}_rps"] = round(m.rps, 1)
        figures[f"{name}_p50_ms"] = round(m.median("p50_us") / 1000, 2)
        figures[f"{name}_p99_ms"] = round(m.median("p99_us") / 1000, 2)
        figures[f"{name}_errors"] = m.errors
        for group in (*CPU_GROUPS.values(), "wrk"):
            per_request = [r["cpu_us_per_request"].get(group) for r in m.runs]
            if per_request and None not in per_request:
                figures[f"{name}_cpu_us_per_req_{group}"] = statistics.median(per_request)
        if m.errors:
            problems.append(f"{name}: {m.errors} failed requests (non-2xx or socket errors)")

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results and results[b].rps:
            return round(results[a].rps / results[b].rps, 3)
        return None

    figures["ratio_genuine_to_bare_redis"] = ratio("genuine", "bare_redis")
    figures["ratio_repeat_to_bare_redis"] = ratio("repeat", "bare_redis")
    figures["ratio_forged_to_hello"] = ratio("forged", "hello")
    figures["channel_overhead_ratio"] = ratio("channel_on", "channel_off")
    figures["channel_typical_overhead_ratio"] = ratio("channel_typical_on", "channel_typical_off")
    if "claim" in results:  # half the claim run's requests are first scans, half claims
        figures["claim_pairs_per_s"] = round(results["claim"].rps / 2, 1)
    for name in ("genuine", "repeat", "forged"):  # --ab-tree: this tree vs the base tree
        if f"{name}_base" in results:
            figures[f"ab_{name}_new_to_base"] = ratio(name, f"{name}_base")
    figures["gateway_peak_rss_mib"] = round(max(rss_kib.values(), default=0) / 1024, 1)
    figures["gateway_peak_rss_total_mib"] = round(sum(rss_kib.values()) / 1024, 1)
    goals = {
        "genuine_vs_bare_redis": (figures["ratio_genuine_to_bare_redis"] or 0)
        >= GOALS["ratio_genuine_to_bare_redis"],
        "forged_vs_hello": (figures["ratio_forged_to_hello"] or 0)
        >= GOALS["ratio_forged_to_hello"],
        "genuine_p99": figures.get("genuine_p99_ms", 1e9) <= GOALS["genuine_p99_ms_max"],
        "no_errors": not problems,
    }
    for name, value in figures.items():
        _print(name, value)
    for name, ok in goals.items():
        _print(f"goal_{name}", "met" if ok else "NOT met")
    for problem in problems:
        _print("problem", problem)
    doc = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": "embedded (SQLite + in-process store)"
        if args.embedded
        else "PostgreSQL + Redis",
        "machine": machine(),
        "config": {
            "connections": args.connections,
            "wrk_threads": args.threads,
            "server_workers": args.workers,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "repeats": args.repeats,
            "flush_interval_s": args.flush_interval,
            "ab_tree": str(args.ab_tree) if args.ab_tree else None,
            "base_env": args.base_env,
        },
        "figures": figures,
        "goals": goals,
        "problems": problems,
        "runs": {name: m.runs for name, m in results.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    _print("written", args.out)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench", description="Scan gateway baseline (wrk)."
    )
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite + in-process store, no services"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SCANGUARD_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("SCANGUARD_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds, not measured")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument(
        "--codes-per-run", type=int, default=100_000, help="fresh codes per warm-up/measured run"
    )
    parser.add_argument(
        "--flush-interval", type=float, default=None, help="SCANGUARD_SCANLOG_FLUSH_INTERVAL_S"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--out", type=Path, default=Path("var/bench/latest.json"))
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="profile the gateway (py-spy raw stacks) during the first measured run of each",
    )
    parser.add_argument(
        "--ab-tree",
        type=Path,
        default=None,
        metavar="DIR",
        help="also measure each gateway scenario on the source tree DIR (e.g. `git worktree add "
        "DIR HEAD` before a change), just before this tree's run: NAME_base figures and "
        "ab_NAME_new_to_base ratios from the same session",
    )
    parser.add_argument(
        "--base-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --ab-tree: environment for the base gateway only (repeatable), e.g. to "
        "compare settings on one tree: --ab-tree . --base-env "
        "SCANGUARD_SCANLOG_FLUSH_INTERVAL_S=0.005",
    )
    args = parser.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.workers > 1 and args.embedded:
        parser.error("--workers > 1 needs PostgreSQL + Redis (the embedded store is per process)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
