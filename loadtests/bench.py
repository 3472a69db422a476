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
import base64
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from kernel.migrate import upgrade
from kernel.runtime import Runtime, run_job
from kernel.settings import Settings
from loadtests.claim_scenario import CLAIM_ENV, check_claimed_again, claim_lines, seed_claims
from loadtests.regions import (
    client_ip_in,
    client_ip_outside,
    random_client_ip,
    write_region_database,
)
from loadtests.seed import SeedPlan, seed

__all__ = ["main"]

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
WALK_LUA = Path(__file__).parent / "wrk" / "walk.lua"
RESOLVER = "https://id.example.com"
WRK_MISSING = (
    "wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y wrk "
    "(macOS: brew install wrk)"
)
EXPECTED = {
    "bare_redis": {"genuine"},
    "genuine": {"genuine"},
    "repeat": {"already_scanned", "suspicious"},
    "forged": {"counterfeit"},
    "inactive": {"inactive"},
    "void": {"void"},
}
GOALS = {
    "ratio_genuine_to_bare_redis": 0.5,
    "ratio_forged_to_hello": 0.8,
    "genuine_p99_ms_max": 50.0,
}


def _print(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Scratch storage
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Scratch:
    env: dict[str, str]
    cleanup: list[Any] = field(default_factory=list)


def _secrets_env() -> dict[str, str]:
    keys = ",".join(
        f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}" for kid in range(1, 9)
    )
    return {"SCANGUARD_JWT_SECRET": secrets.token_urlsafe(48), "SCANGUARD_CODE_KEYS": keys}


async def _pg(dsn: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]  # no stubs; only used here

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _drop_redis_prefix(url: str, prefix: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                deleted += await client.delete(*batch)
                batch = []
        if batch:
            deleted += await client.delete(*batch)
        return deleted
    finally:
        await client.aclose()


@contextmanager
def scratch_storage(args: argparse.Namespace, tmp: Path) -> Iterator[dict[str, str]]:
    """Environment for a fresh database and Redis namespace; removed afterwards."""
    env = {
        "SCANGUARD_ENV": "production",
        "SCANGUARD_VAR_DIR": str(tmp),
        "SCANGUARD_LOG_LEVEL": "WARNING",
        "SCANGUARD_RESOLVER_BASE_URL": RESOLVER,
        # High limits: the bench sends all scans from few addresses and devices.
        "SCANGUARD_RATE_LIMIT_IP_PER_MINUTE": "1000000000",
        "SCANGUARD_RATE_LIMIT_DEVICE_PER_MINUTE": "1000000000",
        "SCANGUARD_COUNTERFEIT_IP_PER_MINUTE": "1000000000",
        # Scans are located (and checked against the seeded distributors' territories) as in
        # production: a small City database placing each client block of loadtests/regions.py.
        "SCANGUARD_GEOIP_DATABASE": str(write_region_database(tmp / "regions.mmdb")),
        **_secrets_env(),
    }
    if args.flush_interval is not None:
        env["SCANGUARD_SCANLOG_FLUSH_INTERVAL_S"] = str(args.flush_interval)
    if args.embedded:
        env["SCANGUARD_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        env["SCANGUARD_REDIS_URL"] = "memory://"
        yield env
        return
    schema = f"sgbench_{uuid.uuid4().hex[:10]}"
    prefix = f"sgbench:{uuid.uuid4().hex[:10]}:"
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    asyncio.run(_pg(dsn, f'CREATE SCHEMA "{schema}"'))
    _log(f"scratch schema {schema}, Redis prefix {prefix}")
    env.update(
        SCANGUARD_DATABASE_URL=args.database_url,
        SCANGUARD_DATABASE_SCHEMA=schema,
        SCANGUARD_REDIS_URL=args.redis_url,
        SCANGUARD_REDIS_PREFIX=prefix,
    )
    try:
        yield env
    finally:
        asyncio.run(_pg(dsn, f'DROP SCHEMA "{schema}" CASCADE'))
        deleted = asyncio.run(_drop_redis_prefix(args.redis_url, prefix))
        _log(f"dropped schema {schema} and {deleted} Redis keys")


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def uvicorn_command(target: str, port: int, workers: int, *, factory: bool = False) -> list[str]:
    """The same uvicorn flags for every server (uvloop + httptools, no access log)."""
    cmd = [sys.executable, "-m", "uvicorn", target]
    if factory:
        cmd.append("--factory")
    cmd += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--log-level",
        "warning",
    ]
    return cmd


@dataclass(slots=True)
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn workers)."""
        found = [self.proc.pid]
        for pid in list(found):
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                found += [int(c) for c in task.read_text().split()]
        return found

    def peak_rss_kib(self) -> dict[int, int]:
        """VmHWM (peak resident set) of each process of the server."""
        peaks: dict[int, int] = {}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[pid] = int(line.split()[1])
            except OSError:
                continue
        return peaks

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    name: str, cmd: list[str], env: dict[str, str], port: int, probe: str, cwd: Path | None = None
) -> Server:
    """Start ``cmd``; with ``cwd`` the server imports the code of that source tree."""
    log_path = Path(env["SCANGUARD_VAR_DIR"]) / f"{name}.log"
    proc_env = {**os.environ, **env}
    if cwd is not None:
        proc_env["PYTHONPATH"] = str(cwd)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, env=proc_env, stdout=log_file, stderr=subprocess.STDOUT, cwd=cwd
        )
    server = Server(name, proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(server.base_url + probe, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer {probe} within 30 s")


# ---------------------------------------------------------------------------------------------
# Requests and wrk
# ---------------------------------------------------------------------------------------------
def scan_line(gtin: str, code: str, device: str, ip: str) -> str:
    body = json.dumps({"url": f"{RESOLVER}/01/{gtin}/21/{code}", "device_id": device})
    return f"POST\t/v1/scans\t{ip}\t{body}"


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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


SCENARIOS = (
    "bare_redis",
    "genuine",
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
