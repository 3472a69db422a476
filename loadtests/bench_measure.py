"""Scan gateway baseline: wrk runs, CPU accounting, the measured scenarios."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadtests.bench_servers import (
    RESOLVER,
    WALK_LUA,
    Server,
    _free_port,
    _log,
    scan_line,
    start_server,
    uvicorn_command,
)
from loadtests.regions import (
    client_ip_in,
    client_ip_outside,
    random_client_ip,
)

CPU_GROUPS = {"python": "gateway", "postgres": "postgres", "redis-server": "redis"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds_by_process() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) so far of each process of a ``CPU_GROUPS`` kind, by pid:
    ``{pid: (group, seconds)}`` (``/proc``; empty where there is none)."""
    found: dict[int, tuple[str, float]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        group = CPU_GROUPS.get(stat[stat.index("(") + 1 : stat.rindex(")")])
        if group is None:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (group, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return found


def cpu_seconds_between(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds per group spent between two ``cpu_seconds_by_process`` readings.

    Taken around a measured run, it says where the run's CPU went: the gateway, the
    database or Redis, all sharing the machine's cores with the load generator (``wrk``: its
    share comes from ``resource.getrusage`` once it has exited). A process that exits in
    between takes its last moments with it (PostgreSQL backends live as long as the pool).
    """
    spent: dict[str, float] = {}
    for pid, (group, seconds) in after.items():
        earlier = before.get(pid)
        start = earlier[1] if earlier is not None and earlier[0] == group else 0.0
        spent[group] = spent.get(group, 0.0) + seconds - start
    return spent


def run_wrk(args: argparse.Namespace, url: str, lines: Path, duration: float) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(WALK_LUA),
        url,
        "--",
        str(lines),
        str(args.threads),
    ]
    cpu_before = cpu_seconds_by_process()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds_between(cpu_before, cpu_seconds_by_process())
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["wrk"] = (
        children_after.ru_utime
        + children_after.ru_stime
        - children_before.ru_utime
        - children_before.ru_stime
    )
    for line in out.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line[len("WRK_JSON ") :])
            requests = max(1, int(result["requests"]))
            # CPU microseconds per request by process group (wrk itself only after it exits)
            result["cpu_us_per_request"] = {
                group: round(seconds * 1e6 / requests, 1) for group, seconds in cpu.items()
            }
            return result
    raise RuntimeError(f"wrk printed no summary:\n{out}")


def check_verdict(base_url: str, gtin: str, code: str, expected: set[str]) -> str | None:
    """One scan through the API; an error message when the verdict is not ``expected``."""
    body = {"url": f"{RESOLVER}/01/{gtin}/21/{code}", "device_id": f"check-{uuid.uuid4().hex}"}
    response = httpx.post(
        base_url + "/v1/scans",
        json=body,
        headers={"X-Forwarded-For": random_client_ip()},
        timeout=10,
    )
    if response.status_code != 200:
        return f"{code}: HTTP {response.status_code} {response.text[:200]}"
    verdict = response.json().get("verdict")
    if verdict not in expected:
        return f"{code}: verdict {verdict!r}, expected {sorted(expected)}"
    return None


async def _prescan(base_url: str, pairs: Sequence[Sequence[str]]) -> list[str]:
    """Scan each repeat code once (the first scan), concurrently."""
    errors: list[str] = []
    sem = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:

        async def one(gtin: str, code: str) -> None:
            async with sem:
                r = await client.post(
                    "/v1/scans",
                    json={"url": f"{RESOLVER}/01/{gtin}/21/{code}", "device_id": "prescan-dev-1"},
                )
                if r.status_code != 200 or r.json().get("verdict") != "genuine":
                    errors.append(f"prescan {code}: {r.status_code} {r.text[:120]}")

        await asyncio.gather(*(one(g, c) for g, c in pairs))
    return errors


@dataclass(slots=True)
class Measured:
    name: str
    runs: list[dict[str, Any]]
    problems: list[str]

    def median(self, key: str) -> float:
        return float(statistics.median(run[key] for run in self.runs))

    @property
    def rps(self) -> float:
        return float(statistics.median(r["requests"] / (r["duration_us"] / 1e6) for r in self.runs))

    @property
    def errors(self) -> int:
        keys = ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout")
        return sum(int(r[k]) for r in self.runs for k in keys)


def measure(
    args: argparse.Namespace,
    name: str,
    url: str,
    slices: list[Path],
    *,
    reuse_ok: bool,
    server: Server | None = None,
) -> Measured:
    """Warm up on ``slices[0]``, then one measured run per further slice."""
    _log(f"{name}: warm-up {args.warmup:g} s")
    warm = run_wrk(args, url, slices[0], args.warmup)
    problems: list[str] = []
    warm_errors = sum(int(v) for k, v in warm.items() if k.startswith("errors_"))
    if warm_errors:
        problems.append(f"{name}: {warm_errors} failed requests during the warm-up")
    if warm["wraps"] and not reuse_ok:
        problems.append(f"{name}: warm-up ran out of codes ({warm['requests']} requests)")
    runs = []
    for i, lines in enumerate(slices[1:], 1):
        profiler = None
        if args.py_spy and server is not None and i == 1:
            profiler = start_profiler(args.py_spy, name, server, args.duration)
        run = run_wrk(args, url, lines, args.duration)
        if profiler is not None:
            profiler.wait()
        rps = run["requests"] / (run["duration_us"] / 1e6)
        _log(
            f"{name}: run {i}: {rps:,.0f} req/s, p50 {run['p50_us'] / 1000:.2f} ms, "
            f"p99 {run['p99_us'] / 1000:.2f} ms, status errors {run['errors_status']}"
        )
        if run["wraps"] and not reuse_ok:
            problems.append(f"{name}: run {i} ran out of codes ({run['requests']} requests)")
        runs.append(run)
    return Measured(name, runs, problems)


def measure_cold(args: argparse.Namespace, url: str, lines: Path) -> Measured:
    """``cold``: one run on a server that has just started answering, with no warm-up: what
    the first seconds after a restart or a deploy cost the scans that arrive in them."""
    _log(f"cold: {args.cold_duration:g} s of first scans, no warm-up")
    run = run_wrk(args, url, lines, args.cold_duration)
    problems = [f"cold: ran out of codes ({run['requests']} requests)"] if run["wraps"] else []
    _log(
        f"cold: {run['requests'] / (run['duration_us'] / 1e6):,.0f} req/s, p50 "
        f"{run['p50_us'] / 1000:.2f} ms, p99 {run['p99_us'] / 1000:.2f} ms, "
        f"max {run['max_us'] / 1000:.2f} ms"
    )
    return Measured("cold", [run], problems)


def measure_ab(
    args: argparse.Namespace,
    name: str,
    base_url: str,
    url: str,
    base_slices: list[Path],
    slices: list[Path],
    *,
    reuse_ok: bool,
) -> tuple[Measured, Measured]:
    """``--ab-tree``: warm up both gateways, then alternate measured runs base, new, base, ...

    Interleaving keeps slow drifts of a noisy machine out of the comparison."""
    _log(f"{name}: A/B warm-up {args.warmup:g} s each")
    problems: list[str] = []
    for tag, u, first in (("base", base_url, base_slices[0]), ("new", url, slices[0])):
        warm = run_wrk(args, u, first, args.warmup)
        if sum(int(v) for k, v in warm.items() if k.startswith("errors_")):
            problems.append(f"{name} ({tag}): failed requests during the warm-up")
        if warm["wraps"] and not reuse_ok:
            problems.append(f"{name} ({tag}): warm-up ran out of codes")
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
    for i in range(1, len(slices)):
        for tag, u, lines in (("base", base_url, base_slices[i]), ("new", url, slices[i])):
            run = run_wrk(args, u, lines, args.duration)
            rps = run["requests"] / (run["duration_us"] / 1e6)
            _log(
                f"{name} ({tag}): run {i}: {rps:,.0f} req/s, p50 {run['p50_us'] / 1000:.2f} ms, "
                f"p99 {run['p99_us'] / 1000:.2f} ms, status errors {run['errors_status']}"
            )
            if run["wraps"] and not reuse_ok:
                problems.append(f"{name} ({tag}): run {i} ran out of codes")
            runs[tag].append(run)
    return Measured(f"{name}_base", runs["base"], problems), Measured(name, runs["new"], [])


def start_profiler(
    out_dir: Path, name: str, server: Server, duration: float
) -> subprocess.Popen[bytes]:
    """py-spy on the server's worker processes during one measured run (collapsed stacks).

    Sampling costs the server some CPU: figures of a profiled run are not comparable.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pid = server.pids()[-1]  # with --workers 1 the server process itself
    return subprocess.Popen(
        [
            shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, int(duration) - 1)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out_dir / f"{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
def _slices(items: Sequence[list[str]], parts: int) -> list[list[list[str]]]:
    size = len(items) // parts
    return [list(items[i * size : (i + 1) * size]) for i in range(parts)]


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        mem_kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


SCENARIOS = (
    "bare_redis",
    "bare_plain",
    "cold",
    "genuine",
    "html",
    "repeat",
    "forged",
    "hello",
    "channel",
    "channel_typical",
    "claim",
)
# channel_typical: the share of first scans made outside the distributor's territory (the
# ``channel`` scenario's natural mix of client blocks puts about four in five outside).
TYPICAL_DIVERTED_SHARE = 0.1
TYPICAL_ADDRESSES = 128  # client addresses per region, inside and outside its territory


def typical_lines(
    pairs: Sequence[Sequence[str]],
    region_of: dict[str, str],
    diverted_share: float,
    rng: random.Random,
) -> list[str]:
    """First-scan lines where ``diverted_share`` of the scans come from a client block outside
    the territory (one region) of the distributor the code's product was shipped to, the rest
    from inside it.

    Addresses come from a pool of ``TYPICAL_ADDRESSES`` per region, inside and outside, as
    the other scenarios reuse 1,024: a fresh address per scan would also measure GeoIP cache
    misses and a new rate-limit key per request, for checks on and off alike."""
    inside: dict[str, list[str]] = {}
    outside: dict[str, list[str]] = {}
    lines = []
    for i, (gtin, code) in enumerate(pairs):
        region = region_of[gtin]
        if region not in inside:
            inside[region] = [client_ip_in(region, rng) for _ in range(TYPICAL_ADDRESSES)]
            outside[region] = [client_ip_outside(region, rng) for _ in range(TYPICAL_ADDRESSES)]
        pool = outside[region] if rng.random() < diverted_share else inside[region]
        lines.append(scan_line(gtin, code, f"tdev-{i % 4096}", rng.choice(pool)))
    return lines


def measure_channel(
    args: argparse.Namespace,
    env: dict[str, str],
    url: str,
    name: str,
    on_files: list[Path],
    off_files: list[Path],
) -> tuple[Measured, Measured]:
    """``channel`` / ``channel_typical``: genuine first scans of shipped, located codes on
    this gateway (channel checks on) against a second gateway of the same tree with
    SCANGUARD_CHANNEL_CHECKS=0, interleaved in the same session: ``NAME_off`` and ``NAME_on``;
    ``channel_overhead_ratio`` = on / off (goal >= 0.9)."""
    port = _free_port()
    off = start_server(
        "gateway_channel_off",
        uvicorn_command("admin_api.asgi:app", port, args.workers),
        {**env, "SCANGUARD_CHANNEL_CHECKS": "0"},
        port,
        "/health",
    )
    try:
        base, new = measure_ab(
            args, f"{name}_on", off.base_url, url, off_files, on_files, reuse_ok=False
        )
    finally:
        off.stop()
    return Measured(f"{name}_off", base.runs, base.problems), new
