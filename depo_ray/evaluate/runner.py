"""Evaluate one checkpoint: vLLM replicas serve it, evaluator actors play the held-out tasks
in parallel with greedy decoding, and the results land in ``output_dir``:

    tasks.parquet         one row per task (TaskResult, plus env_seconds)
    trajectories.parquet  the played chats, as trajectory records (split "test")
    summary.json          the metrics of depo_ray.evaluate.metrics; written last, so its
                          presence means the evaluation is complete
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from depo_ray.envs import EnvConfig, check_task_ids, make_env
from depo_ray.evaluate.metrics import TaskResult, summarize
from depo_ray.files import replaced_atomically, write_text_atomically
from depo_ray.records import TrajectoryRecord, record_from_episode, write_shard
from depo_ray.search.interleave import Interleaver
from depo_ray.serving.client import Meter, RouterClient
from depo_ray.serving.router import ServingConfig
from depo_ray.serving.server import Sampling
from environments.episode import Episode, ObservedEnv, episode_steps

SUMMARY = "summary.json"
TASK_SETS = {"test": "test_tasks", "large": "large_test_tasks", "validation": "validation_tasks"}
"""``task_set`` -> the TaskEnvironment's field holding its ids."""


@dataclass(frozen=True)
class EvalConfig:
    policy: str = ""
    """Model folder or Hugging Face id to evaluate (the pipeline fills it in)."""
    output_dir: str = ""
    """Where tasks.parquet, trajectories.parquet and summary.json go (the pipeline fills it in)."""
    task_ids: tuple[int, ...] | None = None
    """Held-out task ids; None: the environment's ``task_set``."""
    task_set: Literal["test", "large", "validation"] = "test"
    """With ``task_ids`` null: "test", the environment's test tasks (BabyAI: the paper harness's
    90, comparable with the paper); "large", its larger held-out set (BabyAI: 450 tasks, the
    harness's levels at unseen seeds), for paired comparisons with statistical power; or
    "validation", the held-out tasks settings are chosen on (BabyAI: 90, the harness's levels
    at other unseen seeds)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Which environment, with its options (use the generation stage's)."""
    serving: ServingConfig = field(default_factory=ServingConfig)
    """vLLM replicas that serve the checkpoint."""
    workers: int = 2
    """Evaluator actors (they mostly wait on the replicas)."""
    episodes_per_worker: int = 8
    """Episodes each evaluator plays at once, interleaved on one environment: the replicas
    batch up to workers × episodes_per_worker greedy requests."""
    cpus_per_worker: float = 0.25
    """CPU Ray reserves per evaluator actor."""
    max_new_tokens: int = 96
    """Longest agent turn in tokens."""

    def __post_init__(self):
        check_task_ids(self.task_ids)
        if self.task_set not in TASK_SETS:
            raise ValueError(f"task_set: expected one of {list(TASK_SETS)}, got {self.task_set!r}")
        if min(self.workers, self.episodes_per_worker, self.max_new_tokens) < 1:
            raise ValueError("workers, episodes_per_worker and max_new_tokens must be at least 1")
        if self.cpus_per_worker < 0:
            raise ValueError(f"cpus_per_worker must be non-negative, got {self.cpus_per_worker}")


def evaluation_tasks(config: EvalConfig) -> list[int]:
    """The task ids an evaluation plays: ``task_ids`` when given, else the env's ``task_set``."""
    if config.task_ids is not None:
        return list(config.task_ids)
    task_env = make_env(config.env)
    tasks = getattr(task_env, TASK_SETS[config.task_set])
    if not tasks:
        raise ValueError(f"evaluate.task_set: {task_env.name} has no {config.task_set!r} task set")
    return list(tasks)


@dataclass
class _Playing:
    """One episode's bookkeeping while it is played."""

    started: float = field(default_factory=time.perf_counter)
    asked: float = 0.0
    invalid: list[bool] = field(default_factory=list)
    """Per turn: whether the environment refused the action."""
    meter: Meter = field(default_factory=Meter)

    def note_step(self, result: tuple) -> None:
        self.invalid.append(not result[4].get("valid", True))


class Evaluator:
    """Plays tasks greedily against the router, several at once. Wrap with ``ray.remote``."""

    def __init__(self, env: EnvConfig, router, tokenizer_path: str, policy_name: str, max_new_tokens: int):
        from depo_ray.models import load_tokenizer

        self.task_env, self.client = make_env(env), RouterClient(router)
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.policy_name, self.sampling = policy_name, Sampling(temperature=0.0, max_tokens=max_new_tokens)
        self._playing: dict[int, _Playing] = {}

    def play(self, task_ids: list[int]) -> list[tuple[TaskResult, TrajectoryRecord]]:
        """Every task's result and played chat; an error in any episode is raised."""
        interleaver, played = Interleaver(self._submit, self._receive), []
        for task_id in task_ids:
            self._playing[task_id] = _Playing()
            env = ObservedEnv(self.task_env.env, self._playing[task_id].note_step)
            interleaver.start(task_id, episode_steps(env, self.task_env.reset_options(task_id), self.task_env.instruction,
                                                     shared=len(task_ids) > 1))
        while len(played) < len(task_ids):
            for finished in interleaver.wait():
                if finished.error is not None:
                    raise finished.error
                played.append(self._result(finished.key, finished.result))
        return played

    def _submit(self, task_id: int, messages: list[dict]):
        self._playing[task_id].asked = time.perf_counter()
        return self.client.submit(messages, 1, self.sampling, key=f"eval-{task_id}")

    def _receive(self, task_id: int, generations) -> str:
        playing = self._playing[task_id]
        return playing.meter.add(generations, playing.asked)[0]

    def _result(self, task_id: int, episode: Episode) -> tuple[TaskResult, TrajectoryRecord]:
        playing = self._playing.pop(task_id)
        seconds = time.perf_counter() - playing.started
        self.client.forget(f"eval-{task_id}")
        described = self.task_env.describe(task_id)
        record = record_from_episode(episode, self.tokenizer, task_id=str(task_id), env=self.task_env.name, split="test",
                                     seed=described["seed"], source="eval", policy=self.policy_name,
                                     provenance={**described["provenance"], "decoding": "greedy"})
        result = TaskResult(task_id=task_id, success=episode.success, reward=episode.reward, turns=episode.turns,
                            generated_tokens=record.total_tokens, invalid_actions=sum(playing.invalid),
                            model_seconds=playing.meter.model_seconds, seconds=seconds)
        return result, record


def read_results(output_dir: str | Path) -> list[TaskResult]:
    import pyarrow.parquet as pq

    names = [f.name for f in TaskResult.__dataclass_fields__.values()]
    rows = pq.read_table(Path(output_dir) / "tasks.parquet").to_pylist()
    return [TaskResult(**{k: row[k] for k in names}) for row in rows]


def _write_results(results: list[TaskResult], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{**asdict(r), "env_seconds": r.env_seconds} for r in sorted(results, key=lambda r: r.task_id)]
    with replaced_atomically(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def run_evaluation(config: EvalConfig, method: str = "policy", progress: bool = True, router=None) -> dict:
    """Play every held-out task once; returns the summary (read back when already complete).
    ``router``: one already serving ``config.policy`` (else one is started and stopped here)."""
    import ray
    from ray.util.metrics import Counter, Gauge

    from depo_ray.cluster import in_batches, map_on_replaceable_actors
    from depo_ray.serving.router import serving

    output = Path(config.output_dir)
    if (output / SUMMARY).exists():
        return json.loads((output / SUMMARY).read_text())
    output.mkdir(parents=True, exist_ok=True)
    task_ids = evaluation_tasks(config)
    launched = time.perf_counter()
    with serving(config.policy, config.serving, "eval-router", router) as router:
        ray.get(router.wait_ready.remote())
        startup = time.perf_counter() - launched
        actor = ray.remote(Evaluator).options(num_cpus=config.cpus_per_worker)
        # One batch is played interleaved by one worker; many batches spread the tasks over the workers.
        # A worker that dies is replaced and its batch played again: greedy play repeats it.
        batches = in_batches(task_ids, config.episodes_per_worker)
        played = map_on_replaceable_actors(
            lambda: actor.remote(config.env, router, config.policy, config.policy, config.max_new_tokens),
            lambda evaluator, batch: evaluator.play.remote(batch), batches, config.workers)
        done = Counter("depo_eval_tasks_done", description="Evaluation tasks played", tag_keys=("method",))
        success = Gauge("depo_eval_success_rate", description="Share of evaluation tasks solved", tag_keys=("method",))
        results, records = [], []
        bar = tqdm(total=len(task_ids), desc=f"evaluate {method}", disable=not progress)
        for result, record in (pair for batch in played for pair in batch):
            results.append(result)
            records.append(record)
            done.inc(tags={"method": method})
            success.set(sum(r.success for r in results) / len(results), tags={"method": method})
            bar.update()
            bar.set_postfix(succ=f"{sum(r.success for r in results) / len(results):.2f}")
        bar.close()
    summary = {"method": method, "policy": config.policy, **summarize(results), "engine_startup_seconds": startup}
    write_shard(sorted(records, key=lambda r: int(r.task_id)), output / "trajectories.parquet")
    _write_results(results, output / "tasks.parquet")
    write_text_atomically(output / SUMMARY, json.dumps(summary, indent=2))
    return summary
