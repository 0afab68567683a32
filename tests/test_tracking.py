"""MLflow tracking of a run folder: what a finished stage logs, that a re-run replaces it, and
that tracking never fails the work (pure parts without MLflow, the rest on a SQLite store)."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from depo_ray.tracking import Tracker, TrackingConfig, flat_params, step_metrics, store_uri
from tests.processes import wait_until_serving


def test_settings_become_dotted_params_and_steps_keep_only_numbers():
    assert flat_params({"loss": {"name": "depo", "beta": 0.2}, "lora": None, "seeds": [0, 1]}) == \
        {"loss.name": "depo", "loss.beta": "0.2", "lora": "None", "seeds": "[0, 1]"}
    rows = [{"step": 1, "epoch": 0, "loss": 0.5, "z0": None, "resumed": False}, {"step": 2, "epoch": 0, "loss": 0.4}]
    assert step_metrics(rows) == [("epoch", 0.0, 1), ("loss", 0.5, 1), ("epoch", 0.0, 2), ("loss", 0.4, 2)]


def _stage_folder(run):
    train = run / "kto" / "seed-0"
    train.mkdir(parents=True)
    (train / "train_config.json").write_text(json.dumps({"loss": {"name": "kto", "beta": 0.2}, "epochs": 2}))
    (train / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3)))
    evaluation = run / "eval" / "kto" / "seed-0"
    evaluation.mkdir(parents=True)
    (evaluation / "summary.json").write_text(json.dumps({"method": "kto", "policy": "p", "succ": 0.5, "t_all": 120.0}))
    pq.write_table(pa.table({"task_id": [1, 2], "success": [True, False]}), evaluation / "tasks.parquet")


def test_a_stage_logs_its_training_steps_and_evaluations_once_even_when_logged_again(tmp_path):
    from mlflow.tracking import MlflowClient

    run = tmp_path / "run"
    _stage_folder(run)
    (run / "report.md").write_text("# report\n")
    tracker = Tracker(TrackingConfig(), run, title="runs/test")
    for _ in range(2):  # a re-run of the stage replaces its runs
        tracker.stage("kto", {"kto": {"epochs": 2}}, 12.5, [run / "kto", run / "eval"])
    tracker.files([run / "report.md"])
    tracker.stage("kto", {"kto": {"epochs": 3}}, 99.0, [run / "kto"], only_if_missing=True)  # logged: left alone
    client = MlflowClient(tracking_uri=store_uri(TrackingConfig(), run))
    experiment = client.get_experiment_by_name("depo-ray")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["eval/kto/seed-0", "kto", "kto/seed-0", "runs/test"]
    assert runs["kto"].data.params == {"kto.epochs": "2"} and runs["kto"].data.metrics == {"seconds": 12.5}
    assert runs["kto/seed-0"].data.params["loss.name"] == "kto"
    assert [m.value for m in client.get_metric_history(runs["kto/seed-0"].info.run_id, "loss")] == [1.0, 0.5, 1 / 3]
    assert runs["eval/kto/seed-0"].data.metrics == {"succ": 0.5, "t_all": 120.0}
    assert [a.path for a in client.list_artifacts(runs["eval/kto/seed-0"].info.run_id)] == ["tasks.parquet"]
    assert [a.path for a in client.list_artifacts(runs["runs/test"].info.run_id)] == ["report.md"]
    assert runs["kto/seed-0"].data.tags["mlflow.parentRunId"] == runs["kto"].info.run_id


def test_tracking_off_or_broken_logs_nothing_and_raises_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    _stage_folder(run)
    Tracker(TrackingConfig(enabled=False), run, title="t").stage("kto", {}, 1.0, [run / "kto"])
    assert not (run / "mlflow.db").exists()
    (tmp_path / "file").write_text("")
    broken = Tracker(TrackingConfig(uri=f"sqlite:///{tmp_path / 'file' / 'not-a-folder' / 'x.db'}"), run, title="t")
    broken.stage("kto", {}, 1.0, [run / "kto"])
    assert "tracking: could not log" in capsys.readouterr().out and not broken.active
    tracker = Tracker(TrackingConfig(), run, title="t")
    tracker.client.search_runs = None  # a store that stops answering mid-run
    tracker.stage("kto", {}, 1.0, [run / "kto"])
    assert "nothing more is logged" in capsys.readouterr().out and not tracker.active


@pytest.mark.parametrize("uri", [None, "http://tracking.example:5000"])
def test_the_store_is_the_run_folders_unless_a_uri_is_given(tmp_path, uri):
    expected = uri or f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert store_uri(TrackingConfig(uri=uri), tmp_path) == expected


ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
"""Where tests leave files for a person to look at (the UI screenshot)."""


def _get(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read().decode())


@pytest.mark.ray
@pytest.mark.vllm
def test_the_mlflow_ui_shows_a_finished_pipelines_runs(finished_run, tmp_path):
    """The real MLflow server on the run's store, its API and its page in headless Chromium."""
    from depo_ray.cluster import free_port

    _, report = finished_run
    run = report.parent
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (`make test` installs it: apt-get install chromium)"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "mlflow.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
                                   "--port", str(port), "--backend-store-uri", store_uri(TrackingConfig(), run)],
                                  stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    try:
        wait_until_serving(f"{url}/health", server, log, timeout_s=180)
        experiment = _get(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=depo-ray")["experiment"]
        found = _get(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                                           "max_results": 1000})["runs"]
        names = {r["info"]["run_name"]: r for r in found}
        assert {"bc", "kto", "depo", "evaluate", "bc/seed-0", "depo/seed-0", "eval/depo/seed-0"} <= set(names)
        steps = len((run / "depo" / "seed-0" / "metrics.jsonl").read_text().splitlines())
        history = _get(f"{url}/api/2.0/mlflow/metrics/get-history?run_id={names['depo/seed-0']['info']['run_id']}"
                       "&metric_key=loss")["metrics"]
        assert len(history) == steps
        succ = {m["key"]: m["value"] for m in names["eval/depo/seed-0"]["data"]["metrics"]}["succ"]
        assert succ == json.loads((run / "eval" / "depo" / "seed-0" / "summary.json").read_text())["succ"]
        browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000",
                   "--virtual-time-budget=30000"]

        def rendered(page: str) -> str:
            return subprocess.run([*browser, "--dump-dom", page], capture_output=True, text=True, timeout=180,
                                  check=True).stdout

        runs_page = f"{url}/#/experiments/{experiment['experiment_id']}/runs"
        parent = next(r for r in found if any(t["key"] == "depo.run_folder" for t in r["data"]["tags"]))
        listed = rendered(runs_page)
        assert parent["info"]["run_name"] in listed and f"<strong>{len(found)}</strong> matching runs" in listed
        depo = names["depo/seed-0"]
        curves = f"{runs_page}/{depo['info']['run_id']}/model-metrics"
        charts = rendered(curves)  # one chart per metric the run logged (its canvas is drawn later)
        assert "depo/seed-0" in charts and f">({len(depo['data']['metrics'])})</div>" in charts
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "mlflow-ui.png"
        subprocess.run([*browser, f"--screenshot={screenshot}", curves], capture_output=True, timeout=180, check=True)
        assert screenshot.stat().st_size > 20_000
    finally:
        server.terminate()
        server.wait(timeout=30)
