"""The bootstrap's settings: the expert's demonstrations and the BC rounds on them (no torch:
configs load without the training runtime). The environment, the folder it writes in, the
pretrained policy it may start from and the turn budget are the caller's: a ``BootstrapRun``."""

from __future__ import annotations

from dataclasses import dataclass, field

from depo_ray.env_setup import EnvConfig, expert_config
from depo_ray.losses.config import LossConfig
from depo_ray.models.config import TinyModelConfig
from depo_ray.train.config import TrainConfig


@dataclass(frozen=True)
class BootstrapConfig:
    warm_start: bool = False
    """With a pretrained policy: run these BC rounds on the expert's demonstrations before the
    search, so MCTS explores with a policy that acts, and BC and the preference stages start
    from it (as they do from the tiny model's). Off: the pretrained model searches as it is."""
    tasks: tuple[int, int] = (0, 320)
    """Task ids [start, stop) the expert demonstrates (BabyAI: task i is level i % 40, seed
    i // 40; WebShop: goal i, train goals from 1500); the env's test tasks are left out."""
    task_ids: tuple[int, ...] | None = None
    """An explicit list of task ids instead of the ``tasks`` range."""
    expert: dict = field(default_factory=dict)
    """Options of the env's expert (BabyAI: ExpertConfig, WebShop: WebShopExpertConfig), e.g.
    verbosity weights and the share of detours; checked against the env at load."""
    direct_twins: bool = False
    """Also play every task whose demonstration took detours without them: the data then
    holds a short and a long success of the same task, which a relative step budget
    (``label.thresholds.relative_step_budget``) tells apart. The expert needs a
    ``detour_share`` option."""
    model: TinyModelConfig = field(default_factory=lambda: TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256))
    """Size of the tiny policy (2 small layers train in minutes on 2 cores)."""
    train: TrainConfig | None = None
    """One BC round's settings (each round starts from the last one's policy); None: lr 1e-3, 8 epochs, batch 8."""
    check_tasks: tuple[int, ...] = (0, 1, 2, 3, 4, 9, 11, 12)
    """Tasks played greedily after each round to see whether the policy acts sensibly (the
    defaults are BabyAI training tasks)."""
    min_valid_rate: float = 0.5
    """Share of valid actions in that greedy play at which the warm start stops."""
    max_rounds: int = 3
    """BC rounds at most (each continues from the last); the last round's policy is used
    even if it stays below ``min_valid_rate``, with a warning."""

    @property
    def round_config(self) -> TrainConfig:
        """The BC round's settings."""
        return self.train or TrainConfig(loss=LossConfig(name="sft"), lora=None, learning_rate=1e-3, epochs=8,
                                         global_batch_size=8, micro_batch_size=4, checkpoint_every=50)

    def __post_init__(self):
        if not 0 <= self.min_valid_rate <= 1:
            raise ValueError(f"min_valid_rate must be in [0, 1], got {self.min_valid_rate}")
        if self.max_rounds < 1 or not self.check_tasks:
            raise ValueError("max_rounds must be at least 1 and check_tasks non-empty")

    def check_expert(self, env_name: str) -> None:
        """ValueError naming the key when ``expert`` does not fit env ``env_name``'s expert, or
        ``direct_twins`` is asked of an expert without detours."""
        try:
            config = expert_config(env_name, self.expert)
        except ValueError as error:
            raise ValueError(f"bootstrap.{error}") from None
        if self.direct_twins and not hasattr(config, "detour_share"):
            raise ValueError(f"bootstrap.direct_twins: the {env_name!r} expert takes no detours (no detour_share option)")


@dataclass(frozen=True)
class BootstrapRun:
    """What the caller of a bootstrap gives beside its settings (the pipeline: its own env,
    policy and folder)."""
    folder: str
    """Where the bootstrap writes policy/ (a new tiny model), demos/ (labeled), bc/ (D_BC),
    bc_model/ and bootstrap.json."""
    env: EnvConfig
    """The environment of the demonstrations, its folders resolved."""
    policy: str | None = None
    """The pretrained model the BC rounds start from; None: a new tiny model (``model``)."""
    max_new_tokens: int = 96
    """Tokens the policy may write per turn, in the greedy check and later; expert turns
    longer than that are counted with a warning, since imitating them teaches turns cut off
    before their Action."""
