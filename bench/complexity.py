"""How each entry point that reads a tenant's text grows with it, from 1 KB to 1 MB, in one run.

Every entry of tests/support/complexity.py (the webhook's entry point on hostile Pods, the
missed-injection check, redaction, diagnosis) is timed at each size; printed are the times and,
per step, the time ratio divided by the size ratio: about 1 is linear, about 4 (the size step)
is quadratic. The unit suite asserts the same ratio at two sizes (tests/unit/test_complexity.py).
Bounded: an entry that passes `--give-up` seconds at one size is not tried larger.

Run: make bench   (or .venv/bin/python bench/complexity.py --max-kib 1024)
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "operator"), str(REPO / "tests")]

from support.complexity import ENTRY_POINTS, seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-kib", type=int, default=1024, help="the largest input (KiB)")
    parser.add_argument("--give-up", type=float, default=10.0, help="seconds after which a size is the last")
    parser.add_argument("--only", default="", help="entries whose name contains this")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # over-budget notes from the webhook would fill the table

    sizes = [1]
    while sizes[-1] * 4 <= args.max_kib:
        sizes.append(sizes[-1] * 4)
    print(
        f"{'entry point':<66}"
        + "".join(f"{f'{kib} KiB':>11}" for kib in sizes)
        + "   growth per 4x (1 = linear)"
    )
    for entry in ENTRY_POINTS:
        if args.only not in entry.name:
            continue
        times: list[float] = []
        for kib in sizes:
            times.append(seconds(entry.prepare(kib * 1024), repeat=3 if kib < 256 else 1))
            if times[-1] > args.give_up:
                break
        cells = "".join(f"{t * 1000:>8.1f} ms" for t in times) + " " * 11 * (len(sizes) - len(times))
        ratios = " ".join(f"{(b / max(a, 1e-9)) / 4:.1f}" for a, b in itertools.pairwise(times))
        print(f"{entry.name:<66}{cells}   {ratios}", flush=True)


if __name__ == "__main__":
    main()
