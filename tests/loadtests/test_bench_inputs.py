"""The benchmark's request mixes and CPU accounting (pure functions; no servers)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
from pathlib import Path

from loadtests.bench_inputs import Parts, write_inputs
from loadtests.bench_measure import cpu_seconds_between, typical_lines
from loadtests.regions import REGIONS, client_ip_in, client_ip_outside

BLOCKS = {name.split()[0]: ipaddress.ip_network(cidr) for name, cidr, _ in REGIONS}


def _region_of(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    [region] = [region for region, block in BLOCKS.items() if address in block]
    return region


def test_client_addresses_fall_inside_or_outside_the_region() -> None:
    rng = random.Random(7)
    assert {_region_of(client_ip_in("CN-ZJ", rng)) for _ in range(200)} == {"CN-ZJ"}
    outside = {_region_of(client_ip_outside("CN-ZJ", rng)) for _ in range(2000)}
    assert "CN-ZJ" not in outside
    assert len(outside) == len(REGIONS) - 1  # every other block is drawn


def test_typical_lines_put_the_asked_share_of_scans_outside_the_territory() -> None:
    pairs = [("09501101530003", f"C{i}") for i in range(5000)] + [
        ("09501101530010", f"D{i}") for i in range(5000)
    ]
    region_of = {"09501101530003": "CN-GD", "09501101530010": "CN-BJ"}
    lines = typical_lines(pairs, region_of, 0.1, random.Random(3))
    outside = 0
    for line in lines:
        method, path, ip, body = line.split("\t")
        assert (method, path) == ("POST", "/v1/scans")
        gtin = json.loads(body)["url"].split("/01/")[1].split("/")[0]
        outside += _region_of(ip) != region_of[gtin]
    assert 0.08 < outside / len(lines) < 0.12


def test_cpu_accounting_counts_each_process_from_its_own_start() -> None:
    before = {10: ("gateway", 5.0), 11: ("postgres", 2.0), 12: ("postgres", 9.0)}
    after = {10: ("gateway", 6.5), 11: ("postgres", 2.25), 13: ("postgres", 0.5)}
    # pid 12 exited (its last moments are lost, never subtracted); pid 13 is new
    assert cpu_seconds_between(before, after) == {"gateway": 1.5, "postgres": 0.75}


def _codes_in(path: Path) -> list[str]:
    codes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        url = json.loads(fields[3])["url"] if fields[0] == "POST" else fields[1]
        codes.append(url.rsplit("/", 1)[-1])
    return codes


def test_every_first_scan_file_gets_codes_no_other_file_has(tmp_path: Path) -> None:
    scenarios = ["genuine", "html", "cold", "claim", "channel", "channel_typical"]
    args = argparse.Namespace(scenarios=scenarios, repeats=2, ab_tree=None, codes_per_run=1000)
    p = Parts.of(args)
    fresh = [["09501101530003", f"F{i:06d}"] for i in range(40 * 1000 + 3)]
    codes = {
        "fresh": fresh,
        "repeat": [["09501101530003", f"R{i}"] for i in range(10)],
        "forged": [["09501101530003", f"X{i}"] for i in range(10)],
    }
    data = {"codes": codes, "distributors": [{"region": "CN-GD", "gtins": ["09501101530003"]}]}
    inputs = write_inputs(args, tmp_path, p, data, tokens=["t"] * 8)
    files = [
        *inputs.genuine_files,
        *inputs.html_files,
        inputs.cold_file,
        *inputs.claim_files,
        *inputs.channel_files,
        *inputs.typical_files,
    ]
    assert len(inputs.html_files) == p.parts
    assert inputs.cold_file.exists()
    seen: list[str] = []
    for path in files:
        if path in inputs.claim_files:
            continue  # claim lines pair a first scan with a claim of the same code
        seen += _codes_in(path)
    assert len(seen) == len(set(seen)), "a code is in two first-scan files"
    browser = inputs.html_files[0].read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert browser[0] == "GET"
    assert browser[1].startswith("/01/")
    assert browser[-1] == "Accept: text/html"
