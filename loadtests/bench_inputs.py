"""Scan gateway baseline: how many runs each scenario needs, seeding, the request files."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.migrate import upgrade
from kernel.runtime import Runtime, run_job
from kernel.settings import Settings
from loadtests.bench_measure import (
    TYPICAL_DIVERTED_SHARE,
    _slices,
    typical_lines,
)
from loadtests.bench_servers import (
    RESOLVER,
    _log,
    browser_scan_line,
    scan_line,
    write_lines,
)
from loadtests.claim_scenario import CLAIM_ENV, claim_lines, seed_claims
from loadtests.regions import (
    random_client_ip,
)
from loadtests.seed import SeedPlan, seed


@dataclass(frozen=True, slots=True)
class Parts:
    """How many request files each scenario needs (one per warm-up or measured run)."""

    parts: int
    channel: int
    typical: int
    claim: int
    html: int
    cold: int
    genuine: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Parts:
        parts = 1 + args.repeats
        channel = 2 * parts if "channel" in args.scenarios else 0  # checks on + checks off
        typical = 2 * parts if "channel_typical" in args.scenarios else 0
        claim = parts if "claim" in args.scenarios else 0  # first scan + claim
        html = parts if "html" in args.scenarios else 0  # browser first scans
        cold = 1 if "cold" in args.scenarios else 0  # one unwarmed run on a fresh server
        genuine = parts * (2 if args.ab_tree else 1) + claim + channel + typical + html + cold
        return cls(parts, channel, typical, claim, html, cold, genuine)


@dataclass(slots=True)
class Inputs:
    """The seeded codes and the request files written from them."""

    codes: dict[str, list[list[str]]]
    check: dict[str, list[list[str]]]
    fresh: list[list[str]]
    tokens: list[str]
    genuine_files: list[Path] = field(default_factory=list)
    genuine_base_files: list[Path] = field(default_factory=list)
    channel_files: list[Path] = field(default_factory=list)
    typical_files: list[Path] = field(default_factory=list)
    claim_files: list[Path] = field(default_factory=list)
    claim_slices: list[list[list[str]]] = field(default_factory=list)
    bare_files: list[Path] = field(default_factory=list)
    plain_files: list[Path] = field(default_factory=list)
    html_files: list[Path] = field(default_factory=list)
    cold_file: Path = Path()
    repeat_file: Path = Path()
    forged_file: Path = Path()
    hello_file: Path = Path()


def seed_data(
    args: argparse.Namespace, env: dict[str, str], p: Parts
) -> tuple[dict[str, Any], list[str]]:
    """Migrate and seed the scratch storage; the seed description and the claim tokens."""
    settings = Settings.from_env()
    _log(f"migrating {'SQLite' if args.embedded else 'PostgreSQL schema'}")
    upgrade(settings)
    products = 4
    plan = SeedPlan(
        products=products,
        codes=args.codes_per_run * p.genuine // products + 2_000,
        repeat=500,
        void=50,
        inactive=200,
        forged=20_000,
    )

    async def job(runtime: Runtime) -> dict[str, Any]:
        return await seed(runtime, plan)

    data = run_job(settings, job)
    tokens: list[str] = []
    if p.claim:
        brand_id = data["brand"]["id"]
        tokens = run_job(settings, lambda rt: seed_claims(rt, brand_id))
        env.update(CLAIM_ENV)
    return data, tokens


def write_inputs(
    args: argparse.Namespace, tmp: Path, p: Parts, data: dict[str, Any], tokens: list[str]
) -> Inputs:
    codes: dict[str, list[list[str]]] = data["codes"]
    # Reserve a few codes of each class for the verdict checks.
    check = {name: codes[name][:3] for name in codes}
    fresh = codes["fresh"][3:]
    inputs = Inputs(codes=codes, check=check, fresh=fresh, tokens=tokens)
    rng_ips = [random_client_ip() for _ in range(1024)]

    def lines_for(pairs: Sequence[Sequence[str]], tag: str) -> list[str]:
        return [
            scan_line(g, c, f"{tag}-{i % 4096}", rng_ips[i % len(rng_ips)])
            for i, (g, c) in enumerate(pairs)
        ]

    all_slices = _slices(fresh, p.genuine)
    # The last slices: the browser scans, then the cold run.
    extra = p.html + p.cold
    browser_slices = all_slices[len(all_slices) - extra :] if extra else []
    all_slices = all_slices[: len(all_slices) - extra]
    inputs.html_files = [
        write_lines(
            tmp / f"html-{i}.tsv",
            [browser_scan_line(g, c, rng_ips[n % len(rng_ips)]) for n, (g, c) in enumerate(part)],
        )
        for i, part in enumerate(browser_slices[: p.html])
    ]
    if p.cold:
        inputs.cold_file = write_lines(tmp / "cold.tsv", lines_for(browser_slices[-1], "cdev"))
    typical_slices = all_slices[len(all_slices) - p.typical :] if p.typical else []
    region_of = {g: d["region"] for d in data["distributors"] for g in d["gtins"]}
    inputs.typical_files = [
        write_lines(
            tmp / f"typical-{i}.tsv",
            typical_lines(part, region_of, TYPICAL_DIVERTED_SHARE, random.Random(i)),
        )
        for i, part in enumerate(typical_slices)
    ]
    genuine_all = [
        write_lines(tmp / f"genuine-{i}.tsv", lines_for(part, "dev"))
        for i, part in enumerate(all_slices[: len(all_slices) - p.typical])
    ]
    inputs.channel_files = genuine_all[len(genuine_all) - p.channel :]
    claim_start = p.genuine - extra - p.typical - p.channel - p.claim
    inputs.claim_slices = _slices(fresh, p.genuine)[claim_start : claim_start + p.claim]
    inputs.claim_files = [
        write_lines(
            tmp / f"claim-{i}.tsv",
            claim_lines(part, tokens, rng_ips, resolver=RESOLVER, tag=f"cdev{i}"),
        )
        for i, part in enumerate(inputs.claim_slices)
    ]
    genuine_all = genuine_all[: len(genuine_all) - p.channel - p.claim]
    inputs.genuine_files, inputs.genuine_base_files = genuine_all[: p.parts], genuine_all[p.parts :]
    repeat_lines = lines_for(codes["repeat"][3:] * 20, "rdev")
    inputs.repeat_file = write_lines(tmp / "repeat.tsv", repeat_lines)
    inputs.forged_file = write_lines(tmp / "forged.tsv", lines_for(codes["forged"][3:], "fdev"))
    inputs.bare_files = _bare_files(tmp, p.parts, args.codes_per_run, rng_ips)
    inputs.plain_files = _bare_files(
        tmp, p.parts, args.codes_per_run, rng_ips, path="/v1/plain_scans"
    )
    inputs.hello_file = write_lines(tmp / "hello.tsv", ["GET\t/hello\t127.0.0.1\t"])
    return inputs


def _bare_files(
    tmp: Path, parts: int, per_run: int, rng_ips: list[str], *, path: str = "/v1/scans"
) -> list[Path]:
    name = path.strip("/").replace("/", "-")
    return [
        write_lines(
            tmp / f"bare-{name}-{i}.tsv",
            [
                scan_line("09506000134352", f"BARE{i}X{n:012d}", f"bdev-{n % 4096}", ip, path=path)
                for n, ip in zip(range(per_run), rng_ips * (per_run // 1024 + 1), strict=False)
            ],
        )
        for i in range(parts)
    ]
