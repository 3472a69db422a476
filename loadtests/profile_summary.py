"""Summarise a py-spy raw profile (collapsed stacks): where the server's time goes.

    python -m loadtests.profile_summary var/bench/profile/genuine.txt [--top 25]

Prints the share of samples per function, by self time (the frame on top of the stack) and
by inclusive time (anywhere on the stack), as ``share  function`` lines.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

__all__ = ["main", "summarise"]


def _frame(raw: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; drop the line number.
    name, _, where = raw.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, own, inclusive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.profile_summary")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    total, own, inclusive = summarise(args.profile)
    if not total:
        print("no samples")
        return 1
    print(f"samples: {total}")
    print("-- self --")
    for name, count in own.most_common(args.top):
        print(f"{count / total:6.1%}  {name}")
    print("-- inclusive --")
    for name, count in inclusive.most_common(args.top):
        print(f"{count / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
