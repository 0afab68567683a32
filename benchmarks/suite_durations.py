"""Where the test suite's time goes: pytest's ``--durations=0`` table summed per test file.

    make test PYTEST_ARGS="-q -rfEs --durations=0" 2>&1 | tee suite.log
    .venv/bin/python benchmarks/suite_durations.py suite.log

Setup, call and teardown all count, so a module or session fixture's cost lands on the file of
the first test that asked for it (``finished_run`` on the first end-to-end test that runs).
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

# "123.45s call     tests/test_x.py::test_y[param]"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s+(setup|call|teardown)\s+(\S+?\.py)::")


def seconds_by_file(lines) -> dict[str, float]:
    """Seconds per test file, largest first, from the lines of a pytest report."""
    totals: dict[str, float] = defaultdict(float)
    for line in lines:
        match = DURATION.match(line)
        if match:
            totals[match.group(3)] += float(match.group(1))
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", help="pytest output with its --durations=0 table")
    parser.add_argument("--top", type=int, default=25, help="files listed (the rest are summed in one line)")
    args = parser.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as log:
        totals = seconds_by_file(log)
    shown = list(totals.items())[:args.top]
    rest = sum(totals.values()) - sum(seconds for _, seconds in shown)
    print("| file | seconds |\n|---|---|")
    for name, seconds in shown:
        print(f"| {name} | {seconds:.0f} |")
    if rest:
        print(f"| {len(totals) - len(shown)} other files | {rest:.0f} |")
    print(f"| all ({len(totals)} files) | {sum(totals.values()):.0f} |")


if __name__ == "__main__":
    main()
