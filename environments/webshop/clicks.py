"""Product clicks in a WebShop chat, and how many name a product shown on the page they were
clicked on: a policy that makes product ids up instead of copying them from the results
page clicks ids that are not there (each such click is an invalid action).

    python -m environments.webshop.clicks runs/cpu-webshop/eval/bc/seed-0/trajectories.parquet
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from environments.parsing import parse_response
from environments.webshop.env import webshop_action

PRODUCT_ID = re.compile(r"b0[0-9a-z]{8}", re.IGNORECASE)
# page texts are joined by [SEP]; an invalid action's feedback line comes before the page
_SEGMENT = re.compile(r"\[SEP\]|\n")


@dataclass(frozen=True)
class ProductClicks:
    clicks: int
    """Assistant turns whose action is click[<product id>]."""
    on_page: int
    """Of those, clicks on an id that the observation before them lists."""


def ids_on_page(observation: str) -> set[str]:
    """Lowercased product ids that the observation lists as page texts of their own."""
    return {s.strip().lower() for s in _SEGMENT.split(observation) if PRODUCT_ID.fullmatch(s.strip())}


def product_clicks(messages: list[dict[str, str]]) -> ProductClicks:
    clicks = on_page = 0
    shown: set[str] = set()
    for message in messages:
        if message["role"] == "user":
            shown = ids_on_page(message["content"])
            continue
        if message["role"] != "assistant":
            continue
        command = webshop_action(parse_response(message["content"]).action)
        target = command[1] if command and command[0] == "click" else ""
        if PRODUCT_ID.fullmatch(target):
            clicks += 1
            on_page += target in shown
    return ProductClicks(clicks, on_page)


def main() -> None:
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trajectories", nargs="+", help="Parquet files of trajectory records (a messages column)")
    args = parser.parse_args()
    for path in args.trajectories:
        counts = [product_clicks(m) for m in pq.read_table(path, columns=["messages"]).column("messages").to_pylist()]
        clicks, on_page = sum(c.clicks for c in counts), sum(c.on_page for c in counts)
        print(f"{path}: {on_page} of {clicks} product clicks name a product on the page ({len(counts)} trajectories)")


if __name__ == "__main__":
    main()
