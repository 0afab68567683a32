"""Experiment tracking in MLflow: what a pipeline run and a sweep wrote, in a UI.

After each stage of a run completes, its settings, wall time and results go to MLflow under
one parent run per run folder: every training run found in the stage's artifacts (a folder
with ``metrics.jsonl``) as a nested run with its ``train_config.json`` as params and every
step's metrics; every evaluation (a folder with ``summary.json`` and ``tasks.parquet``) as a
nested run with its summary as metrics and its tasks table as an artifact. The report and
plots are attached to the parent run; a sweep logs one run per trial with its swept settings
and its Succ / T@All / S@All, so MLflow's compare view plots the trials against each other.

The run folder's files stay the source of truth: tracking reads them after the stage, so a
stage re-run replaces its MLflow runs and a worker that died mid-stage logs nothing twice.
Tracking is optional: without the ``mlflow`` package, or with ``enabled: false``, nothing is
logged, and a tracking failure is one warning line, never a failed stage.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from depo_ray.files import read_jsonl, run_outputs

# mlflow is optional (see above): it loads when a tracked run starts; configs import this module.

PARENT_TAG = "depo.run_folder"
STAGE_TAG = "depo.stage"
PARAM_LIMIT = 6000  # characters MLflow keeps of a param value
BATCH_LIMIT = 1000  # metrics per log_batch call


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    """Log the run to MLflow (when the mlflow package is installed)."""
    uri: str | None = None
    """MLflow tracking URI (a server, or a database); None: a SQLite store in the run folder,
    ``<run_dir>/mlflow.db``, with artifacts in ``<run_dir>/mlartifacts``."""
    experiment: str = "depo-ray"
    """MLflow experiment the runs go to."""


def store_uri(config: TrackingConfig, folder: str | Path) -> str:
    return config.uri or f"sqlite:///{Path(folder).resolve() / 'mlflow.db'}"


def flat_params(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow params: dotted keys ("loss.beta"), values as text."""
    params = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params.update(flat_params(value, f"{name}."))
        else:
            params[name] = str(value)[:PARAM_LIMIT]
    return params


def step_metrics(rows: list[dict]) -> list[tuple[str, float, int]]:
    """(key, value, step) for every number of every ``metrics.jsonl`` row (None and flags left out)."""
    return [(key, float(value), int(row["step"])) for row in rows for key, value in row.items()
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)]


def summary_metrics(summary: dict) -> dict[str, float]:
    return {k: float(v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def training_folders(folder: Path) -> list[Path]:
    return [p.parent for p in run_outputs(folder, "metrics.jsonl")]


def evaluation_folders(folder: Path) -> list[Path]:
    return [p.parent for p in run_outputs(folder, "summary.json") if (p.parent / "tasks.parquet").exists()]


class Tracker:
    """Logs one run folder's stages (or a sweep's trials) under one parent MLflow run."""

    def __init__(self, config: TrackingConfig, folder: str | Path, title: str):
        self.folder, self.title, self.client, self.experiment_id = Path(folder), title, None, None
        if not config.enabled:
            return
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # a training run phones no one
        try:
            import mlflow  # noqa: F401  (optional)
        except ImportError:
            print("tracking: the mlflow package is not installed; nothing is logged (pip install mlflow)")
            return
        except Exception as error:  # a broken install must not stop the run either
            print(f"tracking: mlflow does not import ({type(error).__name__}: {error}); nothing is logged")
            return
        self._guarded("connect", self._connect, config)

    def _connect(self, config: TrackingConfig) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=store_uri(config, self.folder))
        experiment = self.client.get_experiment_by_name(config.experiment)
        artifacts = None if config.uri else (self.folder / "mlartifacts").resolve().as_uri()
        self.experiment_id = experiment.experiment_id if experiment else \
            self.client.create_experiment(config.experiment, artifact_location=artifacts)

    @property
    def active(self) -> bool:
        return self.client is not None and self.experiment_id is not None

    def _guarded(self, what: str, action, *args) -> None:
        try:
            action(*args)
        except Exception as error:  # tracking never fails the work it watches
            print(f"tracking: could not log {what} to MLflow ({type(error).__name__}: {error}); "
                  "nothing more is logged in this run")
            self.client = None  # an unreachable server would otherwise stall every later stage on retries

    def _runs(self, tag: str, value: str, parent: str | None = None) -> list:
        query = f"tags.`{tag}` = '{value}'" + (f" and tags.`mlflow.parentRunId` = '{parent}'" if parent else "")
        return self.client.search_runs([self.experiment_id], filter_string=query)

    def _parent(self) -> str:
        found = self._runs(PARENT_TAG, str(self.folder.resolve()))
        if found:
            return found[0].info.run_id
        run = self.client.create_run(self.experiment_id, run_name=self.title,
                                     tags={PARENT_TAG: str(self.folder.resolve())})
        return run.info.run_id

    def _child(self, parent: str, name: str, tags: dict | None = None) -> str:
        return self.client.create_run(self.experiment_id, run_name=name,
                                      tags={"mlflow.parentRunId": parent, **(tags or {})}).info.run_id

    def _replaced(self, name: str) -> str:
        """A fresh run for stage (or sweep) ``name`` under the parent, its earlier runs deleted."""
        parent = self._parent()
        for old in self._runs(STAGE_TAG, name, parent):
            for nested in self._runs("mlflow.parentRunId", old.info.run_id):
                self.client.delete_run(nested.info.run_id)
            self.client.delete_run(old.info.run_id)
        return self._child(parent, name, {STAGE_TAG: name})

    def _log(self, run_id: str, params: dict[str, str] | None = None, metrics: list[tuple[str, float, int]] = ()) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        params = [Param(k, v) for k, v in (params or {}).items()]
        for start in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[start:start + 100])
        entries = [Metric(k, v, now, step) for k, v, step in metrics]
        for start in range(0, len(entries), BATCH_LIMIT):
            self.client.log_batch(run_id, metrics=entries[start:start + BATCH_LIMIT])

    def stage(self, name: str, settings: dict, seconds: float, artifacts: list[Path], only_if_missing: bool = False) -> None:
        """A completed stage: replaces what an earlier run of it logged. ``only_if_missing``:
        only when nothing of it is logged yet (a stage that completed in a driver that died
        before logging it)."""
        if self.active and not (only_if_missing and self._logged(name)):
            self._guarded(f"stage {name}", self._stage, name, settings, seconds, artifacts)

    def _logged(self, name: str) -> bool:
        try:
            return bool(self._runs(STAGE_TAG, name, self._parent()))
        except Exception:
            return False

    def _stage(self, name: str, settings: dict, seconds: float, artifacts: list[Path]) -> None:
        stage_run = self._replaced(name)
        self._log(stage_run, flat_params(settings), [("seconds", seconds, 0)])
        for folder in (f for a in artifacts if a.is_dir() for f in training_folders(a)):
            run = self._child(stage_run, str(folder.relative_to(self.folder)))
            config = folder / "train_config.json"
            self._log(run, flat_params(json.loads(config.read_text())) if config.exists() else {},
                      step_metrics(read_jsonl(folder / "metrics.jsonl")))
            self.client.set_terminated(run)
        for folder in (f for a in artifacts if a.is_dir() for f in evaluation_folders(a)):
            run = self._child(stage_run, str(folder.relative_to(self.folder)))
            summary = json.loads((folder / "summary.json").read_text())
            self._log(run, {"policy": str(summary.get("policy", ""))}, [(k, v, 0) for k, v in summary_metrics(summary).items()])
            self.client.log_artifact(run, str(folder / "tasks.parquet"))
            self.client.set_terminated(run)
        self.client.set_terminated(stage_run)

    def files(self, paths: list[Path]) -> None:
        """Attach files or folders (the report, its plots) to the parent run, and mark it finished."""
        if self.active:
            self._guarded("files", self._files, paths)

    def _files(self, paths: list[Path]) -> None:
        parent = self._parent()
        for path in (p for p in paths if p.exists()):
            if path.is_dir():
                self.client.log_artifacts(parent, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(parent, str(path))
        self.client.set_terminated(parent)  # the run is done; a later resume logs into it again

    def trials(self, name: str, rows: list[dict], settings: tuple[str, ...], files: list[Path] = ()) -> None:
        """A sweep's trials, one run each: ``settings`` as params, the other numbers as
        metrics; ``files`` (its tables and plots) attached to the sweep's run."""
        if self.active:
            self._guarded(name, self._trials, name, rows, settings, files)

    def _trials(self, name: str, rows: list[dict], settings: tuple[str, ...], files: list[Path]) -> None:
        sweep_run = self._replaced(name)
        for row in rows:
            run = self._child(sweep_run, str(row.get("trial", "trial")))
            params = {k: str(row[k]) for k in settings if row.get(k) is not None}
            metrics = [(k, v, 0) for k, v in summary_metrics({k: v for k, v in row.items() if k not in settings}).items()]
            self._log(run, params, metrics)
            self.client.set_terminated(run)
        for path in (Path(f) for f in files if Path(f).is_file()):
            self.client.log_artifact(sweep_run, str(path))
        self.client.set_terminated(sweep_run)
