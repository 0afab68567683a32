"""Prometheus on a Ray cluster's metrics: Ray writes the address of every node's metrics
endpoint to ``<session>/prom_metrics_service_discovery.json`` on the head node, and Prometheus
reads it as a file-based service discovery (``make monitor``, ``jobs/monitor.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

DISCOVERY_FILE = "prom_metrics_service_discovery.json"
LATEST_SESSION = Path("/tmp/ray/session_latest")
"""The head node's newest session (under Ray's default temp folder)."""


def prometheus_config(discovery: Path, scrape_interval_s: float) -> str:
    """prometheus.yml that scrapes every node listed in Ray's discovery file."""
    interval = f"{scrape_interval_s:g}s"
    return json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "ray", "file_sd_configs": [{"files": [str(discovery)]}]}],
    }, indent=2)


def start_prometheus(session_dir: Path, folder: Path, port: int = 9090, scrape_interval_s: float = 10.0) -> subprocess.Popen:
    """Start Debian's ``prometheus`` on ``127.0.0.1:port`` with its config and data in
    ``folder``, scraping the cluster of ``session_dir``; returns once its API answers."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("prometheus is not installed (Debian: apt-get install prometheus; `make monitor` does it)")
    discovery = Path(session_dir).resolve() / DISCOVERY_FILE
    if not discovery.is_file():
        raise FileNotFoundError(f"{discovery}: no Ray metrics discovery file (is this a Ray head's session folder?)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(prometheus_config(discovery, scrape_interval_s))
    process = subprocess.Popen([binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=(folder / "prometheus.log").open("w"))
    deadline = time.monotonic() + 60
    while True:
        try:
            query(port, "api/v1/status/buildinfo")
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"prometheus did not start on port {port}; see {folder / 'prometheus.log'}")
            time.sleep(0.5)


def query(port: int, path: str, **params) -> dict:
    """One call of Prometheus's HTTP API; returns its ``data``."""
    url = f"http://127.0.0.1:{port}/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())["data"]


def depo_series(port: int) -> list[dict]:
    """Every depo-ray series Prometheus has scraped (Ray prefixes application metrics with
    ``ray_``): each a dict of its name (``__name__``) and tags."""
    return query(port, "api/v1/series", **{"match[]": '{__name__=~"ray_depo_.*"}'})
