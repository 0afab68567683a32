"""The CPU pipeline end to end on a real Ray cluster and vLLM engines (the run itself is
conftest.py's finished_run, shared with other end-to-end tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from depo_ray.cluster import free_port
from depo_ray.config import load_yaml
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.records import read_records
from environments.math import generated_problems

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.ray
@pytest.mark.vllm
def test_the_pipeline_writes_a_report_with_all_three_methods(finished_run):
    _, report = finished_run
    run = report.parent
    text = report.read_text()
    for row in ("| BC |", "| KTO |", "| DEPO |", "| DEPO vs BC |", "| DEPO vs KTO |", "| DEPO − KTO |", "| DEPO − BC |",
                "| KTO − BC |", "- T@All lower than KTO: **"):
        assert row in text
    for plot in ("tokens_per_turn.png", "turns_per_task.png", "success_vs_tokens.png", "paired_differences.png"):
        assert (run / "plots" / plot).stat().st_size > 1000 and f"plots/{plot}" in text
    assert "desirable" in text and "| generate |" in text
    from depo_ray.evaluate.outcomes import read_outcomes  # every evaluated task, recomputable from the run

    outcomes = {(p.method, p.seed): p.results for p in read_outcomes(run / "outcomes.csv")}
    assert sorted(outcomes) == [("bc", 0), ("depo", 0), ("kto", 0)] and all(len(r) == 4 for r in outcomes.values())
    for method in ("bc", "kto", "depo"):
        summary = json.loads((run / "eval" / method / "seed-0" / "summary.json").read_text())
        assert summary["tasks"] == 4 and summary["s_all"] >= 1 and summary["t_all"] > 0
        assert (run / method / "seed-0" / "final" / "config.json").exists()
    # KTO and DEPO trained on one scored copy of the preference data, kept with π_BC
    assert (run / "bc" / "seed-0" / "scored" / "COMPLETE.json").exists()
    assert not (run / "kto" / "seed-0" / "data").exists() and not (run / "depo" / "seed-0" / "data").exists()
    labeled = json.loads((run / "stages" / "label.json").read_text())
    assert labeled["desirable"] > 0 and labeled["undesirable"] > 0
    # the search's invalid turns, each an example that ends on it (KTO and DEPO trained on them above)
    examples = [r for r in read_records(run / "labeled" / "all.parquet") if "loss_turn" in r.provenance]
    assert len(examples) == labeled["invalid_turn_examples"] > 0
    assert all(r.provenance["loss_turn"] == r.steps - 1 == r.provenance["invalid_turns"][-1] for r in examples)
    assert "## Math, out of domain: `generated`" in text
    for method in ("bc", "kto", "depo"):  # the served policy scored on the generated set
        math = json.loads((run / "math" / method / "seed-0" / "summary.json").read_text())
        rows = pq.read_table(run / "math" / method / "seed-0" / "problems.parquet").to_pylist()
        assert [r["id"] for r in rows] == sorted(p.id for p in generated_problems(3))
        # the config's max_new_tokens, plus the turn's end token that every assistant turn counts
        assert all(0 < r["generated_tokens"] <= 16 + 1 for r in rows)
        assert math["problems"] == 3 and math["accuracy"] == sum(r["correct"] for r in rows) / 3
        assert math["mean_tokens"] > 0


@pytest.mark.ray
@pytest.mark.vllm
def test_prometheus_scraped_every_depo_metric_with_its_tags_during_the_run(finished_run, prometheus):
    """Every metric the code exports reached a real Prometheus while the pipeline ran (the
    evaluation's with each method's tag), and the shipped Grafana dashboard asks only for them."""
    import re

    from depo_ray.monitoring import depo_series

    exported = {"depo_generate_tasks_done", "depo_generate_trajectories", "depo_generate_success_rate",
                "depo_eval_tasks_done", "depo_eval_success_rate"}
    scraped: dict[str, list[dict]] = {}
    for series in depo_series(prometheus):
        name = re.sub(r"^ray_|_total$", "", series["__name__"])
        scraped.setdefault(name, []).append(series)
    assert set(scraped) == exported
    for name in ("depo_eval_tasks_done", "depo_eval_success_rate"):
        assert {s.get("method") for s in scraped[name]} == {"bc", "kto", "depo"}
    assert all(s.get("SessionName") for series in scraped.values() for s in series)
    dashboard = json.loads((ROOT / "configs" / "grafana_depo_dashboard.json").read_text())
    asked = {re.sub(r"\(_total\)\?$", "", name) for panel in dashboard["panels"] for target in panel.get("targets", [])
             for name in re.findall(r'__name__=~"ray_(depo_[a-z_]+(?:\(_total\)\?)?)"', target["expr"])}
    assert asked and asked <= set(scraped)


def marker_times(run: Path) -> dict[str, int]:
    """When each stage marker but the report's (rewritten by every run) was last written."""
    return {p.name: p.stat().st_mtime_ns for p in (run / "stages").glob("*.json") if p.name != "report.json"}


@pytest.mark.ray
@pytest.mark.vllm
def test_make_pipelines_submit_works_on_a_machine_that_never_ran_ray(finished_run, tmp_path):
    """`make pipeline`'s path (jobs/submit.py) with an empty home folder, so no Ray token, and
    no head running: it creates the token, starts the head, says where the dashboard and its
    token are, and submits a named job that resumes the finished run, redoing no finished stage."""
    import shutil
    import tempfile
    import uuid

    from depo_ray.processes import kill, marked

    config_file, report = finished_run
    before = report.stat().st_mtime_ns
    markers = marker_times(report.parent)
    home, head_marker = tmp_path / "home", uuid.uuid4().hex
    home.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")},
           "HOME": str(home), "DEPO_RAY_TEST_HEAD": head_marker}
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    address = f"http://127.0.0.1:{free_port()}"
    try:
        out = subprocess.run([sys.executable, str(ROOT / "jobs" / "submit.py"), "--config", str(config_file),
                              "--address", address, "--gcs-port", str(free_port()), "--temp-dir", temp_dir],
                             capture_output=True, text=True, timeout=900, env=env)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        assert (home / ".ray" / "auth_token").exists() and "created a Ray authentication token" in out.stdout
        assert "starting a local Ray head" in out.stdout
        assert f"Ray dashboard: {address}" in out.stdout and "get-auth-token` prints" in out.stdout
        assert "[bc] done earlier" in out.stdout and "report:" in out.stdout
        listed = subprocess.run([str(Path(sys.executable).with_name("ray")), "job", "list", f"--address={address}"],
                                capture_output=True, text=True, env={**env, "RAY_AUTH_MODE": "token"})
        assert f"'job_name': 'depo-ray pipeline ({config_file})'" in listed.stdout, listed.stdout[-2000:]
    finally:
        kill(marked("DEPO_RAY_TEST_HEAD", head_marker))
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert report.stat().st_mtime_ns > before
    assert marker_times(report.parent) == markers
    assert load_yaml(PipelineConfig, report.parent / "config.yaml") == load_yaml(PipelineConfig, config_file)


