"""Prometheus on this head node's Ray cluster, running or finished: it scrapes every node's
metrics endpoint (the depo_* metrics of docs/monitoring.md and Ray's own) until Ctrl-C.

    make monitor                                   # installs Debian's prometheus if missing
    python jobs/monitor.py --port 9090 --folder runs/prometheus
    python jobs/monitor.py --session /tmp/ray/session_2026-12-06_15-11-42_191824_2609
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from depo_ray.monitoring import LATEST_SESSION, start_prometheus

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--session", default=str(LATEST_SESSION),
                        help="the Ray session folder on the head node (default: its newest session)")
    parser.add_argument("--folder", default="runs/prometheus", help="Prometheus's config and data (relative to the project root)")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--scrape-interval", type=float, default=10.0, help="seconds between scrapes")
    args = parser.parse_args()
    try:
        process = start_prometheus(Path(args.session), ROOT / args.folder, args.port, args.scrape_interval)
    except (FileNotFoundError, RuntimeError) as error:
        sys.exit(f"monitor: {error}")
    print(f"Prometheus: http://127.0.0.1:{args.port} (scraping {Path(args.session).resolve()}; Ctrl-C stops it)", flush=True)
    try:
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
