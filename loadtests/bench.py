"""Scan gateway baseline: how close the gateway gets to what the stack under it allows.

Run (``make bench``)::

    python -m loadtests.bench [--embedded] [--duration 15 --warmup 10 --repeats 3]

In one run: a scratch PostgreSQL schema and a unique Redis key prefix (or, with
``--embedded``, a SQLite file and the in-process store), migrations, seeding through the
services, then each server as a uvicorn subprocess with the same flags, loaded by ``wrk``
(``loadtests/wrk/walk.lua`` walks a request list, so every first scan uses a new code):

1. ``bare_redis``: ``loadtests.bare_apps`` doing only the gateway's Redis script (a ceiling
   that runs the gateway's own script: the gateway against itself);
2. ``bare_plain``: ``loadtests.bare_apps`` doing a plain pipelined GET + INCR + XADD (the
   ceiling of what the stack allows, whatever the gateway's design);
3. ``cold``: a freshly started gateway, first scans from the moment ``--cold-probe`` answers,
   no warm-up, one run of ``--cold-duration`` seconds (p99 is the figure);
4. ``genuine``: the gateway, first scans (``POST /v1/scans``, each request a new code);
5. ``html``: the gateway, first scans from a phone browser (``GET /01/.../21/...``,
   ``Accept: text/html``, no cookie), each request a new code;
6. ``repeat``: the gateway, codes scanned before (``already_scanned`` / ``suspicious``);
7. ``forged``: the gateway, codes whose MAC does not verify (``counterfeit``, no I/O);
8. ``hello``: ``GET /hello`` on the bare app.

Each (but ``cold``) is warmed up, then measured ``--repeats`` times; the median is
reported. Before and after each scenario one request is checked for the verdict its code
class must get. Prints
``name: value`` lines (requests/s, p50/p99 ms, errors, ratios, the gateway's peak RSS) and
writes them to ``var/bench/latest.json``. Exits 1 when a request failed (non-2xx, socket
errors, a code reused) or a verdict was wrong; goals are reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadtests.bench_inputs import Inputs, Parts, seed_data, write_inputs
from loadtests.bench_measure import (
    CPU_GROUPS,
    SCENARIOS,
    Measured,
    _prescan,
    check_verdict,
    machine,
    measure,
    measure_ab,
    measure_channel,
    measure_cold,
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
    _print,
    scratch_storage,
    start_server,
    uvicorn_command,
)
from loadtests.claim_scenario import check_claimed_again

__all__ = ["main"]


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    p = Parts.of(args)
    tmp = Path(tempfile.mkdtemp(prefix="scanguard-bench-"))
    results: dict[str, Any] = {}
    problems: list[str] = []
    rss_kib: dict[int, int] = {}
    try:
        with scratch_storage(args, tmp) as env:
            os.environ.update(env)
            data, tokens = seed_data(args, env, p)
            inputs = write_inputs(args, tmp, p, data, tokens)
            _run_bare(args, env, p, inputs, results)
            rss_kib = _run_gateway(args, env, p, inputs, results, problems)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(args, results, problems, rss_kib)


def _run_bare(
    args: argparse.Namespace,
    env: dict[str, str],
    p: Parts,
    inputs: Inputs,
    results: dict[str, Any],
) -> None:
    """Scenarios 1 and 5: the bare app."""
    bare_port = _free_port()
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
                args, "bare_redis", bare.base_url, inputs.bare_files, reuse_ok=False
            )
        if "bare_plain" in args.scenarios:
            results["bare_plain"] = measure(
                args, "bare_plain", bare.base_url, inputs.plain_files, reuse_ok=False
            )
        if "hello" in args.scenarios:
            results["hello"] = measure(
                args, "hello", bare.base_url, [inputs.hello_file] * p.parts, reuse_ok=True
            )
    finally:
        bare.stop()


def _run_gateway(
    args: argparse.Namespace,
    env: dict[str, str],
    p: Parts,
    inputs: Inputs,
    results: dict[str, Any],
    problems: list[str],
) -> dict[int, int]:
    """The gateway's scenarios (cold on its own fresh server first); its peak RSS by process."""
    if "cold" in args.scenarios:
        _run_cold(args, env, inputs, results, problems)
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
    gw_port = _free_port()
    gateway = start_server(
        "gateway",
        uvicorn_command("admin_api.asgi:app", gw_port, args.workers),
        env,
        gw_port,
        "/health",
    )
    try:
        url = gateway.base_url
        _check_before(url, inputs, problems)
        _scan_scenarios(args, p, inputs, gateway, base_gw, results, problems)
        _other_scenarios(args, env, p, inputs, gateway, results, problems)
        health = httpx.get(url + "/health", timeout=5).json()
        if health.get("status") != "ok":
            problems.append(f"gateway health after the run: {health}")
        return gateway.peak_rss_kib()
    finally:
        gateway.stop()
        if base_gw is not None:
            base_gw.stop()


def _run_cold(
    args: argparse.Namespace,
    env: dict[str, str],
    inputs: Inputs,
    results: dict[str, Any],
    problems: list[str],
) -> None:
    """Start a gateway and load it the moment ``--cold-probe`` first answers."""
    port = _free_port()
    cold = start_server(
        "gateway_cold",
        uvicorn_command("admin_api.asgi:app", port, args.workers),
        env,
        port,
        args.cold_probe,
    )
    try:
        results["cold"] = measure_cold(args, cold.base_url, inputs.cold_file)
        for err in cold_verdicts(cold.base_url, inputs.cold_file):
            problems.append(f"cold: {err}")
    finally:
        cold.stop()


def cold_verdicts(url: str, lines: Path) -> list[str]:
    """A code the cold run scanned (not the first line: wrk drops it) is now a repeat."""
    line = lines.read_text(encoding="utf-8").splitlines()[5]
    scan = json.loads(line.split("\t")[3])["url"].split("/")
    err = check_verdict(url, scan[-3], scan[-1], EXPECTED["repeat"])
    return [err] if err else []


def _expect(url: str, pair: Sequence[str], want: str, label: str, problems: list[str]) -> None:
    gtin, code = pair
    if (err := check_verdict(url, gtin, code, EXPECTED[want])) is not None:
        problems.append(f"{label}: {err}")


def _check_before(url: str, inputs: Inputs, problems: list[str]) -> None:
    check = inputs.check
    for cls in ("fresh", "inactive", "void", "forged"):
        _expect(url, check[cls][0], "genuine" if cls == "fresh" else cls, f"check {cls}", problems)
    problems += asyncio.run(_prescan(url, inputs.codes["repeat"]))
    _expect(url, check["repeat"][0], "repeat", "check repeat", problems)


def _measure_maybe_ab(
    args: argparse.Namespace,
    name: str,
    gateway: Server,
    base_gw: Server | None,
    base_files: list[Path],
    files: list[Path],
    *,
    reuse_ok: bool,
    results: dict[str, Any],
) -> None:
    if base_gw is not None:
        results[f"{name}_base"], results[name] = measure_ab(
            args, name, base_gw.base_url, gateway.base_url, base_files, files, reuse_ok=reuse_ok
        )
    else:
        results[name] = measure(
            args, name, gateway.base_url, files, reuse_ok=reuse_ok, server=gateway
        )


def _scan_scenarios(
    args: argparse.Namespace,
    p: Parts,
    inputs: Inputs,
    gateway: Server,
    base_gw: Server | None,
    results: dict[str, Any],
    problems: list[str],
) -> None:
    url = gateway.base_url
    if "genuine" in args.scenarios:
        _measure_maybe_ab(
            args,
            "genuine",
            gateway,
            base_gw,
            inputs.genuine_base_files,
            inputs.genuine_files,
            reuse_ok=False,
            results=results,
        )
        # A code scanned during the warm-up must now be a repeat (not the first
        # line: wrk calls request() once before connecting, and drops it).
        _expect(url, inputs.fresh[5], "repeat", "check after genuine", problems)
        _expect(url, inputs.check["fresh"][1], "genuine", "check fresh after genuine", problems)
    if "html" in args.scenarios:
        results["html"] = measure(
            args, "html", url, inputs.html_files, reuse_ok=False, server=gateway
        )
        for err in html_verdicts(url, inputs.html_files[0]):
            problems.append(f"html: {err}")
    for name, file in (("repeat", inputs.repeat_file), ("forged", inputs.forged_file)):
        if name in args.scenarios:
            files = [file] * p.parts
            _measure_maybe_ab(
                args, name, gateway, base_gw, files, files, reuse_ok=True, results=results
            )
    if "forged" in args.scenarios:
        _expect(url, inputs.check["forged"][1], "forged", "check forged after run", problems)


def html_verdicts(url: str, lines: Path) -> list[str]:
    """A code scanned from the browser during the warm-up is now a repeat for the API."""
    path = lines.read_text(encoding="utf-8").splitlines()[5].split("\t")[1].split("/")
    err = check_verdict(url, path[2], path[4], EXPECTED["repeat"])
    return [err] if err else []


def _other_scenarios(
    args: argparse.Namespace,
    env: dict[str, str],
    p: Parts,
    inputs: Inputs,
    gateway: Server,
    results: dict[str, Any],
    problems: list[str],
) -> None:
    url = gateway.base_url
    for name, files in (
        ("channel", inputs.channel_files),
        ("channel_typical", inputs.typical_files),
    ):
        if name in args.scenarios:
            off, on = measure_channel(args, env, url, name, files[: p.parts], files[p.parts :])
            results[off.name], results[on.name] = off, on
    if "claim" in args.scenarios:
        results["claim"] = measure(
            args, "claim", url, inputs.claim_files, reuse_ok=False, server=gateway
        )
        pair = inputs.claim_slices[0][5]  # claimed during the warm-up
        err = check_claimed_again(url, pair, "cdev0-5", inputs.tokens[5], resolver=RESOLVER)
        if err is not None:
            problems.append(f"check claim: {err}")


# goal name → (figure, GOALS key, whether the figure must be at least (True) or at most)
GOAL_CHECKS = {
    "genuine_vs_bare_redis": ("ratio_genuine_to_bare_redis", "ratio_genuine_to_bare_redis", True),
    "genuine_vs_bare_plain": ("ratio_genuine_to_bare_plain", "ratio_genuine_to_bare_plain", True),
    "html_vs_genuine": ("ratio_html_to_genuine", "ratio_html_to_genuine", True),
    "forged_vs_hello": ("ratio_forged_to_hello", "ratio_forged_to_hello", True),
    "genuine_p99": ("genuine_p99_ms", "genuine_p99_ms_max", False),
    "cold_p99": ("cold_p99_ms", "cold_p99_ms_max", False),
}


def goals_met(figures: dict[str, Any], problems: list[str]) -> dict[str, bool]:
    """Each goal met or not; a figure the run did not measure counts as not met."""
    goals = {}
    for goal, (figure, bound, at_least) in GOAL_CHECKS.items():
        value = figures.get(figure)
        goals[goal] = value is not None and (
            value >= GOALS[bound] if at_least else value <= GOALS[bound]
        )
    goals["no_errors"] = not problems
    return goals


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
    figures["ratio_genuine_to_bare_plain"] = ratio("genuine", "bare_plain")
    figures["ratio_html_to_genuine"] = ratio("html", "genuine")
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
    goals = goals_met(figures, problems)
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
    parser.add_argument("--cold-duration", type=float, default=10.0, help="seconds of the cold run")
    parser.add_argument(
        "--cold-probe",
        default="/health",
        help="the path whose first 200 starts the cold run (the readiness the deploy waits on)",
    )
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
