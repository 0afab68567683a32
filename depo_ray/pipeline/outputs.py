"""What a pipeline run leaves for work built on it: a sweep starts from one seed's π_BC, the
labeled data and the evaluations of the trained methods."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from depo_ray.config import under_root
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.stage import RunFolder


@dataclass(frozen=True)
class SeedOutputs:
    """A pipeline run's artifacts of one training seed (they may not exist yet)."""
    labeled: Path
    """D and U, labeled: what the preference methods train on (seed-independent)."""
    bc_model: Path
    """π_BC of this seed: where every preference method starts."""
    evaluations: dict[str, Path]
    """Each method's evaluation summary (``summary.json``) for this seed, by method name."""
    scored: Path
    """The preference data packed and scored by this seed's π_BC (the depo stage's)."""
    studies: Path
    """The run's folder for work built on it (``<run_dir>/sweeps``)."""

    def missing(self) -> str | None:
        """What is not there yet for work from π_BC, and the stage that writes it."""
        for path, stage in ((self.labeled, "label"), (self.bc_model / "config.json", "bc")):
            if not path.exists():
                return f"{path} is missing; run the pipeline through its {stage} stage first"
        return None


def seed_outputs(config: PipelineConfig, root: Path, seed: int) -> SeedOutputs:
    run = RunFolder(under_root(root, config.run_dir))
    return SeedOutputs(labeled=run.labeled, bc_model=run.model("bc", seed),
                       evaluations={m.name: run.evaluation(m.name, seed) / "summary.json" for m in config.methods()},
                       scored=run.scored(seed),
                       studies=run / "sweeps")
