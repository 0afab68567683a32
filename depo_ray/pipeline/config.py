"""The pipeline's typed config: one section per stage, each the stage's own settings.

A section holds only what the user sets. What connects the stages — the policy each one
starts from, the environment, the folders it reads and writes — the pipeline gives each
stage's entry point from the top level (``policy``, ``env``, ``run_dir``) and the run
folder, so a run never mixes two environments or writes outside its folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from depo_ray.bootstrap.config import BootstrapConfig
from depo_ray.env_setup import EnvConfig, has_expert, make_env, select_tasks
from depo_ray.evaluate.config import EvalConfig, MathEvalConfig, evaluation_tasks
from depo_ray.labeling import LabelConfig
from depo_ray.losses.config import LossConfig
from depo_ray.rephrase import RephraseConfig
from depo_ray.search.config import GenerateConfig
from depo_ray.serving.config import ServingConfig
from depo_ray.tracking import TrackingConfig
from depo_ray.train.config import TrainConfig


@dataclass(frozen=True)
class Method:
    """A trained policy: its own train stage, reading the ``PipelineConfig`` section of the
    same name (a ``TrainConfig``), evaluated against the others."""
    name: str
    title: str
    """Its name in the report."""
    losses: tuple[str, ...]
    """The losses its section may use."""
    preference: bool = True
    """Trained from the same seed's π_BC on D and U (KTO, DEPO); False: behaviour cloning,
    from the starting policy on D_BC (which gives π_BC), or with ``teacher`` set in its
    section, distillation of that teacher on D_BC (losses token_kd, sad)."""
    efficiency: bool = False
    """An efficiency method: the report checks DEPO's claims for it (fewer tokens and turns
    than BC and KTO, no lower Succ than BC)."""
    optional: bool = False
    """Its section may be null, and the method is then not trained or evaluated."""


METHODS = (Method("bc", "BC", ("sft", "token_kd", "sad"), preference=False), Method("kto", "KTO", ("kto",)),
           Method("depo", "DEPO", ("depo", "depo_penalty"), efficiency=True),
           Method("depo_weighted", "DEPO-W", ("depo_weighted",), efficiency=True, optional=True))
"""The trained policies the evaluate stage compares, in stage and report order; a new one
(a new loss) is an entry here and a ``TrainConfig`` section of the same name below."""


@dataclass(frozen=True)
class LabelSettings:
    thresholds: LabelConfig = field(default_factory=LabelConfig)
    """κ0, κ1, κ2, the step cutoff and how D_BC is drawn from D."""
    expert_demos: Literal["none", "desirable", "successes", "all"] = "none"
    """Which expert demonstrations (the bootstrap's, or with a pretrained policy the demos
    stage's, of ``bootstrap.tasks``) join the labeled data: none; those
    labeled desirable (CPU default: a tiny searched policy rarely succeeds, and the demos'
    varied Thoughts give D its spread; a demo the turn limit cut off is the expert's right
    moves on a hard task, so it is not put in U); their successes (reward >= κ0), each
    desirable or, over the step budget with ``long_successes: undesirable``, undesirable; or
    all of them, labeled like the rest."""
    invalid_turns: Literal["ignore", "undesirable"] = "ignore"
    """What the searched trajectories' invalid turns (actions the environment rejected) add:
    nothing; or each distinct one an undesirable example of its own, the chat through that
    turn with the loss on that turn only (a failed trajectory's label blames all its turns)."""
    rephrase: RephraseConfig | None = None
    """Shorten the Thoughts of desirable trajectories through this endpoint; None: off."""

    def __post_init__(self):
        if self.expert_demos not in ("none", "desirable", "successes", "all"):
            raise ValueError(f"expert_demos: expected 'none', 'desirable', 'successes' or 'all', got {self.expert_demos!r}")
        if self.invalid_turns not in ("ignore", "undesirable"):
            raise ValueError(f"invalid_turns: expected 'ignore' or 'undesirable', got {self.invalid_turns!r}")


@dataclass(frozen=True)
class PipelineConfig:
    run_dir: str = "runs/cpu"
    """Folder of every stage's artifacts (relative paths are taken from the project root)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The environment of every stage."""
    policy: str | None = None
    """Hugging Face id or folder of the starting policy (the paper: Qwen2.5-7B-Instruct or
    Llama-3.1-8B-Instruct), or a named model of ``depo_ray.models.sources`` (prepared once from
    the package registry, e.g. smollm2-135m-instruct); None: the CPU default, a tiny model
    bootstrapped on expert demos."""
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    """Warm start on expert demos: of the tiny model when ``policy`` is None, of the policy
    with ``bootstrap.warm_start``. A policy without it searches as it is; with
    ``label.expert_demos``, the bootstrap's tasks and expert give the demos stage's
    demonstrations."""
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    """MCTS search with the starting policy."""
    label: LabelSettings = field(default_factory=LabelSettings)
    """Labeling into D, U and D_BC."""
    bc: TrainConfig = field(default_factory=lambda: TrainConfig(loss=LossConfig(name="sft")))
    """Behaviour cloning on D_BC from the starting policy (loss sft)."""
    pi_bc: Literal["trained", "bootstrap"] = "trained"
    """π_BC, the policy the preference stages start from and are compared with: ``trained``,
    the bc stage's BC on D_BC from the starting policy; or ``bootstrap``, the warm start's
    policy itself (a pretrained policy's BC on expert demos already is π_BC, as in the paper,
    and the search ran with it), so the bc stage trains nothing and ``bc`` is unused."""
    kto: TrainConfig = field(default_factory=lambda: TrainConfig(loss=LossConfig(name="kto"), learning_rate=2e-5))
    """The KTO baseline from π_BC on D and U (loss kto)."""
    depo: TrainConfig = field(default_factory=lambda: TrainConfig(loss=LossConfig(name="depo"), learning_rate=2e-5))
    """DEPO from π_BC on D and U (loss depo or depo_penalty)."""
    depo_weighted: TrainConfig | None = None
    """Beyond the paper: efficiency as a weight on KTO's desirable term (loss depo_weighted),
    from π_BC on D and U; None: not run."""
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    """Greedy evaluation of π_BC, π_KTO and π_DEPO on the held-out tasks."""
    math: MathEvalConfig | None = None
    """Out-of-domain math (GSM8K, MATH, SimulEq or the generated set) solved by π_BC, π_KTO
    and π_DEPO: accuracy and generated tokens, as the paper's Figure 2; None: not run. The
    evaluate stage solves it on each policy's evaluation engines (``evaluate.serving``)."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds (shuffle order, initialisation): bc, kto, depo and evaluate run once per
    seed, each seed's KTO and DEPO from its own π_BC; the report gives the median over seeds."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """MLflow: each finished stage's training steps and evaluations, the report, and sweep
    trials (optional; nothing is logged without the mlflow package)."""

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: expected a non-empty list of distinct seeds, got {list(self.seeds)}")
        for method in METHODS:
            section = getattr(self, method.name)
            if section is None and not method.optional:
                raise ValueError(f"{method.name}: required")
        for method in self.methods():
            if getattr(self, method.name).seed != 0:
                raise ValueError(f"{method.name}.seed: the pipeline sets it from seeds; leave it out")
        if self.math is not None and self.math.serving != ServingConfig():
            raise ValueError("math.serving: the pipeline solves math on the evaluation engines; set evaluate.serving")
        for method in self.methods():
            loss = getattr(self, method.name).loss.name
            if loss not in method.losses:
                raise ValueError(f"{method.name}.loss.name: must be one of {list(method.losses)}, got {loss!r}")
        if self.pi_bc not in ("trained", "bootstrap"):
            raise ValueError(f"pi_bc: expected 'trained' or 'bootstrap', got {self.pi_bc!r}")
        if self.pi_bc == "bootstrap" and self.policy is not None and not self.bootstrap.warm_start:
            raise ValueError("pi_bc: 'bootstrap' needs a bootstrap: set bootstrap.warm_start (or no policy)")
        if self.bootstrap.warm_start and self.policy is None:
            raise ValueError("bootstrap.warm_start: only for a pretrained policy (the tiny model always warm-starts)")
        if self.policy is None or self.bootstrap.warm_start:
            if not has_expert(self.env.name):
                key, what = ("bootstrap.warm_start", "warm-start from") if self.policy else ("policy", "bootstrap a tiny model on")
                raise ValueError(f"{key}: env {self.env.name!r} has no expert to {what}")
            self.bootstrap.check_expert(self.env.name)
            self._check_bootstrap_tasks()
        evaluated = evaluation_tasks(self.evaluate, self.env)
        held_out = make_env(self.env).held_out  # generation and the bootstrap leave these out themselves
        trained = set(select_tasks(self.generate.tasks, self.generate.task_ids, held_out))
        if self.policy is None or self.label.expert_demos != "none":
            trained |= set(select_tasks(self.bootstrap.tasks, self.bootstrap.task_ids, held_out))
        leaked = sorted(trained & set(evaluated))
        if leaked:
            key = "evaluate.task_ids" if self.evaluate.task_ids is not None else f"evaluate.task_set {self.evaluate.task_set!r}"
            raise ValueError(f"{key}: tasks {leaked[:10]} are also searched or demonstrated for training")
        if self.label.expert_demos != "none" and not has_expert(self.env.name):
            raise ValueError(f"label.expert_demos: env {self.env.name!r} has no expert to demonstrate")

    def methods(self) -> tuple[Method, ...]:
        """The methods this config trains and evaluates, in stage and report order."""
        return tuple(m for m in METHODS if getattr(self, m.name) is not None)

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
