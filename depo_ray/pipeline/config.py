"""The pipeline's typed config: one section per stage, each the stage's own config.

Paths and the environment are the pipeline's to set: every stage reads ``env`` from the
top level and writes under ``run_dir``; a section that sets them itself is refused at load,
naming the key, so a run never mixes two environments or writes outside its folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from depo_ray.bootstrap import BootstrapConfig
from depo_ray.envs import EXPERTS, EnvConfig, expert_config, make_env, select_tasks
from depo_ray.evaluate.math import MathEvalConfig
from depo_ray.evaluate.runner import EvalConfig
from depo_ray.labeling import LabelConfig
from depo_ray.losses import LossConfig
from depo_ray.rephrase import RephraseConfig
from depo_ray.search.generate import GenerateConfig
from depo_ray.train.config import TrainConfig

SCHEDULING = frozenset({"serving", "workers", "cpus_per_worker", "max_failures", "checkpoint_every", "report_every",
                        "micro_batch_size", "trees_per_worker", "episodes_per_worker", "max_in_flight", "backoff_s"})
"""Settings that change how a stage is scheduled, not what it produces: changing them (to fit
another cluster) does not make a completed stage stale."""

STAGES = ("bootstrap", "generate", "label", "bc", "kto", "depo", "evaluate", "math", "report")
METHODS = ("bc", "kto", "depo")
"""The trained policies the evaluate stage compares, in report order."""


@dataclass(frozen=True)
class LabelStage:
    thresholds: LabelConfig = field(default_factory=LabelConfig)
    """κ0, κ1, κ2, the step cutoff and how D_BC is drawn from D."""
    expert_demos: Literal["none", "desirable", "all"] = "none"
    """Which of the bootstrap's expert demonstrations join the labeled data: none; those
    labeled desirable (CPU default: a tiny searched policy rarely succeeds, and the demos'
    varied Thoughts give D its spread; a demo the turn limit cut off is the expert's right
    moves on a hard task, so it is not put in U); or all of them, labeled like the rest."""
    rephrase: RephraseConfig | None = None
    """Shorten the Thoughts of desirable trajectories through this endpoint; None: off."""

    def __post_init__(self):
        if self.expert_demos not in ("none", "desirable", "all"):
            raise ValueError(f"expert_demos: expected 'none', 'desirable' or 'all', got {self.expert_demos!r}")


@dataclass(frozen=True)
class PipelineConfig:
    run_dir: str = "runs/cpu"
    """Folder of every stage's artifacts (relative paths are taken from the project root)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The environment of every stage."""
    policy: str | None = None
    """Hugging Face id or folder of the starting policy (the paper: Qwen2.5-7B-Instruct or
    Llama-3.1-8B-Instruct); None: the CPU default, a tiny model bootstrapped on expert demos."""
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    """Warm start of the tiny model (run only when ``policy`` is None)."""
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    """MCTS search with the starting policy."""
    label: LabelStage = field(default_factory=LabelStage)
    """Labeling into D, U and D_BC."""
    bc: TrainConfig = field(default_factory=lambda: TrainConfig(loss=LossConfig(name="sft")))
    """Behaviour cloning on D_BC from the starting policy (loss sft)."""
    kto: TrainConfig = field(default_factory=lambda: TrainConfig(loss=LossConfig(name="kto"), learning_rate=2e-5))
    """The KTO baseline from π_BC on D and U (loss kto)."""
    depo: TrainConfig = field(default_factory=lambda: TrainConfig(loss=LossConfig(name="depo"), learning_rate=2e-5))
    """DEPO from π_BC on D and U (loss depo or depo_penalty)."""
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    """Greedy evaluation of π_BC, π_KTO and π_DEPO on the held-out tasks."""
    math: MathEvalConfig | None = None
    """Out-of-domain math (GSM8K, MATH, SimulEq or the generated set) solved by π_BC, π_KTO
    and π_DEPO: accuracy and generated tokens, as the paper's Figure 2; None: not run."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds (shuffle order, initialisation): bc, kto, depo and evaluate run once per
    seed, each seed's KTO and DEPO from its own π_BC; the report gives the median over seeds."""

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: expected a non-empty list of distinct seeds, got {list(self.seeds)}")
        for section in ("bc", "kto", "depo"):
            if getattr(self, section).seed != 0:
                raise ValueError(f"{section}.seed: the pipeline sets it from seeds; leave it out")
        for section, names in (("generate", ("policy", "output_dir")), ("bc", ("model", "output_dir")),
                               ("kto", ("model", "output_dir")), ("depo", ("model", "output_dir")),
                               ("evaluate", ("policy", "output_dir")), ("bootstrap", ("run_dir", "env", "max_new_tokens")),
                               ("math", ("policy", "output_dir"))):
            for name in names:
                if getattr(self, section) is not None and getattr(getattr(self, section), name):
                    raise ValueError(f"{section}.{name}: set by the pipeline (from policy, run_dir, env and the "
                                     "turn budgets of generate and evaluate); leave it out")
        for section in ("generate", "evaluate"):
            if getattr(self, section).env != EnvConfig():
                raise ValueError(f"{section}.env: every stage uses the top-level env; set it there")
        expected = {"bc": ("sft",), "kto": ("kto",), "depo": ("depo", "depo_penalty")}
        for section, names in expected.items():
            if getattr(self, section).loss.name not in names:
                raise ValueError(f"{section}.loss.name: must be one of {list(names)}, got {getattr(self, section).loss.name!r}")
        if self.policy is None:
            if self.env.name not in EXPERTS:
                raise ValueError(f"policy: required for env {self.env.name!r}, which has no expert to bootstrap a tiny model")
            try:
                expert_config(self.env.name, self.bootstrap.expert)
            except ValueError as error:
                raise ValueError(f"bootstrap.{error}") from None
            self._check_bootstrap_tasks()
        if self.evaluate.task_ids is not None:
            trained = set(select_tasks(self.generate.tasks, self.generate.task_ids, ()))
            if self.policy is None:
                trained |= set(select_tasks(self.bootstrap.tasks, self.bootstrap.task_ids, ()))
            leaked = sorted(trained & set(self.evaluate.task_ids))
            if leaked:
                raise ValueError(f"evaluate.task_ids: tasks {leaked[:10]} are also searched or demonstrated for training")
        if self.label.expert_demos != "none" and self.policy is not None:
            raise ValueError("label.expert_demos: the expert demonstrations come from the bootstrap, "
                             "which runs only when policy is null")

    def _expert_settings(self, as_data) -> dict:
        if self.policy is not None or self.env.name not in EXPERTS:
            return dict(self.bootstrap.expert)
        return as_data(expert_config(self.env.name, self.bootstrap.expert))

    def _check_bootstrap_tasks(self) -> None:
        """The demonstrated and the checked tasks are training tasks of this env (the
        defaults are BabyAI's; WebShop's test goals 0-499 would all be held out)."""
        held_out = make_env(self.env).test_tasks
        if not select_tasks(self.bootstrap.tasks, self.bootstrap.task_ids, held_out):
            raise ValueError(f"bootstrap.tasks: every task is one of {self.env.name}'s test tasks; "
                             f"give training tasks (WebShop: goals from 1500)")
        checked = sorted(set(self.bootstrap.check_tasks) & set(held_out))
        if checked:
            raise ValueError(f"bootstrap.check_tasks: {checked[:10]} are {self.env.name} test tasks; "
                             "the check decides when BC stops, so it must use training tasks")

    def section(self, stage: str, as_data=dataclasses.asdict):
        """What a stage's artifact depends on, as plain data (scheduling settings left out):
        a completed stage whose section changed must be re-run (``--from``), never silently
        reused. ``as_data=field_defaults`` gives the same shape at the code's defaults."""
        sections = {
            # the expert's full settings, so a changed default in its code counts as a change
            "bootstrap": {"bootstrap": {**as_data(self.bootstrap), "expert": self._expert_settings(as_data)},
                          "env": as_data(self.env)},
            "generate": {"generate": as_data(self.generate), "env": as_data(self.env), "policy": self.policy},
            "label": as_data(self.label),
            "evaluate": {"evaluate": as_data(self.evaluate), "env": as_data(self.env), "seeds": self.seeds},
            "report": {},
        }
        if stage not in sections:
            value = getattr(self, stage)
            sections[stage] = {stage: None if value is None else as_data(value), "seeds": self.seeds}
        return _without_scheduling(sections[stage])


def field_defaults(config) -> dict:
    """``dataclasses.asdict``'s shape with each field at its declared default (nested configs
    followed as they are set), to tell a setting added to the code later from a changed one."""
    out = {}
    for f in dataclasses.fields(config):
        current = getattr(config, f.name)
        if dataclasses.is_dataclass(current):
            out[f.name] = field_defaults(current)
        elif f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            out[f.name] = dataclasses.asdict(default) if dataclasses.is_dataclass(default) else default
        else:
            out[f.name] = current
    return out


def _without_scheduling(value):
    if isinstance(value, dict):
        return {k: _without_scheduling(v) for k, v in value.items() if k not in SCHEDULING}
    return value
