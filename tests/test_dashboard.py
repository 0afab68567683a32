"""The shipped Grafana dashboard charts every depo_* metric the code exports, and nothing else."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_dashboard_charts_every_exported_metric():
    code = "".join(path.read_text() for path in (ROOT / "depo_ray").rglob("*.py"))
    exported = set(re.findall(r'(?:Counter|Gauge|Histogram)\("(depo_\w+)"', code))
    dashboard = json.loads((ROOT / "configs" / "grafana_depo_dashboard.json").read_text())
    charted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"ray_(depo_\w+?)\(_total\)\?", target["expr"])}
    assert exported and charted == exported
