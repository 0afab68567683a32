"""What a pipeline stage is, and the run folder every stage writes in.

A ``Stage`` says everything the pipeline's machinery (``depo_ray.pipeline.runner``) needs to
know about one stage: when it applies, what it writes, what its output depends on, what it
holds on the cluster and how to run it. The machinery only ever loops over such entries.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from depo_ray.files import write_text_atomically
from depo_ray.settings import plain
from depo_ray.train.config import FINAL

if TYPE_CHECKING:
    from depo_ray.pipeline.config import PipelineConfig


@dataclass(frozen=True)
class StageNeeds:
    """The Ray resources a stage holds at its peak, and what it does with them."""
    work: str
    """What the stage does, in a few words."""
    actors: str
    """The Ray actors it starts."""
    cpus: float
    gpus: float


class RunFolder:
    """Paths of a run's artifacts and the per-stage markers: ``stages/<stage>.json`` once the
    stage completed (its settings, wall time and facts), ``stages/<stage>.started.json``
    while it runs (its settings, so a resumed stage knows whether its partial outputs fit)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def marker(self, stage: str) -> Path:
        return self.root / "stages" / f"{stage}.json"

    def read_marker(self, stage: str) -> dict | None:
        path = self.marker(stage)
        return json.loads(path.read_text()) if path.exists() else None

    def started(self, stage: str) -> Path:
        return self.root / "stages" / f"{stage}.started.json"

    def read_started(self, stage: str) -> dict | None:
        path = self.started(stage)
        return json.loads(path.read_text()) if path.exists() else None

    def start(self, stage: str, settings) -> None:
        write_text_atomically(self.started(stage), json.dumps(plain(settings), indent=2))

    def finish(self, stage: str, settings, seconds: float, **facts) -> None:
        write_text_atomically(self.marker(stage), json.dumps(
            {"settings": plain(settings), "seconds": seconds, **facts}, indent=2, default=str))
        self.started(stage).unlink(missing_ok=True)

    def clear(self, stage: str, artifacts: tuple[str, ...]) -> None:
        """Delete a stage's markers and its artifacts (paths under the run folder)."""
        self.marker(stage).unlink(missing_ok=True)
        self.started(stage).unlink(missing_ok=True)
        for name in artifacts:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    @property
    def trajectories(self) -> Path:
        """The search's trajectories, one shard per task (generate)."""
        return self.root / "trajectories"

    @property
    def labeled(self) -> Path:
        """Every labeled trajectory: D, U and the dropped ones (label)."""
        return self.root / "labeled" / "all.parquet"

    @property
    def d_bc(self) -> Path:
        """D_BC, what behaviour cloning trains on (label)."""
        return self.root / "labeled" / "bc.parquet"

    @property
    def labeling_summary(self) -> Path:
        """The label stage's table of counts, turns and tokens per class."""
        return self.root / "labeled" / "summary.txt"

    def trained(self, method: str, seed: int) -> Path:
        """Output folder of a train stage for one seed."""
        return self.root / method / f"seed-{seed}"

    def model(self, method: str, seed: int) -> Path:
        """The exported policy of a train stage for one seed."""
        return self.trained(method, seed) / FINAL

    def scored(self, seed: int) -> Path:
        """The preference data packed and scored by this seed's π_BC (kept with it, so
        re-training π_BC clears it)."""
        return self.trained("bc", seed) / "scored"

    def evaluation(self, method: str, seed: int) -> Path:
        return self.root / "eval" / method / f"seed-{seed}"

    def math(self, method: str, seed: int) -> Path:
        return self.root / "math" / method / f"seed-{seed}"


def every_config(config: PipelineConfig) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    """One pipeline stage, as the machinery runs it."""
    name: str
    """Its name on the command line (``--from``) and in its marker files."""
    artifacts: tuple[str, ...]
    """Paths under the run folder that it writes (``--from`` deletes them)."""
    settings: Callable[[PipelineConfig, Callable[[Any], dict]], dict]
    """What its artifacts depend on, given the config and how to turn a config section into
    data (``dataclasses.asdict``, or ``field_defaults`` for the same shape at the code's
    defaults); scheduling settings are left out by the machinery."""
    needs: Callable[[PipelineConfig], StageNeeds]
    run: Callable[[PipelineConfig, RunFolder, Path, bool], dict]
    """Run it: ``run(config, run_folder, root, progress)``, where ``config``'s env has its
    folders taken from the project root; returns the facts kept in its marker."""
    applies: Callable[[PipelineConfig], bool] = every_config
    """Whether this config runs the stage at all."""
    always_runs: bool = False
    """Never counted as complete (the report: cheap, and rewritten on every run)."""

    def completed(self, run: RunFolder) -> dict | None:
        """Its marker, or None while it has to run."""
        return None if self.always_runs else run.read_marker(self.name)

    def clear(self, run: RunFolder) -> None:
        run.clear(self.name, self.artifacts)
