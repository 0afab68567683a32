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

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from depo_ray.cluster import ReplaceableActors, in_batches, map_on_replaceable_actors
from depo_ray.env_setup import EnvConfig, make_env
from depo_ray.evaluate.config import EvalConfig, evaluation_tasks
from depo_ray.evaluate.metrics import TaskResult, summarize
from depo_ray.files import replaced_atomically, write_text_atomically
from depo_ray.records import TrajectoryRecord, record_from_episode, write_shard
from depo_ray.search.interleave import Interleaver
from depo_ray.serving.client import Meter, ReplicaClient
from depo_ray.serving.server import ChatRequest, Sampling
from depo_ray.tokens import PieceTokenizer
from environments.episode import Episode, episode_steps

# Ray and transformers load on first use: the pipeline's planner and report import this module.

SUMMARY = "summary.json"


@dataclass
class _Playing:
    """One episode's bookkeeping while it is played."""

    started: float = field(default_factory=time.perf_counter)
    asked: float = 0.0
    meter: Meter = field(default_factory=Meter)


class Evaluator:
    """Plays tasks greedily, several at once, their turns batched to one leased replica. Wrap
    with ``ray.remote``."""

    def __init__(self, env: EnvConfig, router, tokenizer_path: str, policy_name: str, max_new_tokens: int):
        from depo_ray.models.loading import load_tokenizer

        self.task_env = make_env(env)
        self.tokenizer = PieceTokenizer(load_tokenizer(tokenizer_path))  # prompts and records share pieces
        self.client = ReplicaClient(router, self.tokenizer)
        self.policy_name, self.sampling = policy_name, Sampling(temperature=0.0, max_tokens=max_new_tokens)
        self._playing: dict[int, _Playing] = {}

    def play(self, task_ids: list[int]) -> list[tuple[TaskResult, TrajectoryRecord]]:
        """Every task's result and played chat; an error in any episode is raised."""
        interleaver, played = Interleaver(self._submit, self._receive), []
        for task_id in task_ids:
            self._playing[task_id] = _Playing()
            interleaver.start(task_id, episode_steps(self.task_env.env, self.task_env.reset_options(task_id),
                                                     self.task_env.instruction, shared=len(task_ids) > 1))
        while len(played) < len(task_ids):
            for finished in interleaver.wait():
                if finished.error is not None:
                    raise finished.error
                played.append(self._result(finished.key, finished.result))
        return played

    def _submit(self, batch: list[tuple[int, list[dict]]]):
        now = time.perf_counter()
        for task_id, _ in batch:
            self._playing[task_id].asked = now
        return self.client.submit_batch([ChatRequest(messages, 1, self.sampling) for _, messages in batch])

    def _receive(self, task_id: int, generations) -> str:
        playing = self._playing[task_id]
        return playing.meter.add(generations, playing.asked)[0]

    def _result(self, task_id: int, episode: Episode) -> tuple[TaskResult, TrajectoryRecord]:
        playing = self._playing.pop(task_id)
        seconds = time.perf_counter() - playing.started
        described = self.task_env.describe(task_id)
        record = record_from_episode(episode, self.tokenizer, task_id=str(task_id), env=self.task_env.name, split="test",
                                     seed=described["seed"], source="eval", policy=self.policy_name,
                                     provenance={**described["provenance"], "decoding": "greedy"})
        result = TaskResult(task_id=task_id, success=episode.success, reward=episode.reward, turns=episode.turns,
                            generated_tokens=record.total_tokens, invalid_actions=len(episode.invalid_turns),
                            model_seconds=playing.meter.model_seconds, seconds=seconds)
        return result, record


def read_results(output_dir: str | Path) -> list[TaskResult]:
    names = [f.name for f in TaskResult.__dataclass_fields__.values()]
    rows = pq.read_table(Path(output_dir) / "tasks.parquet").to_pylist()
    return [TaskResult(**{k: row[k] for k in names}) for row in rows]


def _write_results(results: list[TaskResult], path: Path) -> None:
    rows = [{**asdict(r), "env_seconds": r.env_seconds} for r in sorted(results, key=lambda r: r.task_id)]
    with replaced_atomically(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def run_evaluation(config: EvalConfig, policy: str, env: EnvConfig, output_dir: str | Path, method: str = "policy",
                   progress: bool = True, router=None) -> dict:
    """``policy`` (a model folder or Hugging Face id) plays every held-out task of ``env`` once,
    writing its results in ``output_dir``; returns the summary (read back when already complete).
    ``router``: one already serving ``policy`` (else one is started and stopped here)."""
    import ray
    from ray.util.metrics import Counter, Gauge

    from depo_ray.serving.router import serving

    output = Path(output_dir)
    if (output / SUMMARY).exists():
        return json.loads((output / SUMMARY).read_text())
    output.mkdir(parents=True, exist_ok=True)
    task_ids = evaluation_tasks(config, env)
    launched = time.perf_counter()
    with serving(policy, config.serving, "eval-router", router) as router:
        ray.get(router.wait_ready.remote())
        startup = time.perf_counter() - launched
        evaluator = ray.remote(Evaluator)
        # One batch is played interleaved by one worker; many batches spread the tasks over the workers.
        # A worker that dies is replaced and its batch played again: greedy play repeats it.
        evaluators = ReplaceableActors(f"evaluator-{method}", lambda name: evaluator.options(num_cpus=config.cpus_per_worker, name=name)
                                       .remote(env, router, policy, policy, config.max_new_tokens))
        played = map_on_replaceable_actors(evaluators, lambda actor, batch: actor.play.remote(batch),
                                           in_batches(task_ids, config.episodes_per_worker), config.workers)
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
    summary = {"method": method, "policy": policy, **summarize(results), "engine_startup_seconds": startup}
    write_shard(sorted(records, key=lambda r: int(r.task_id)), output / "trajectories.parquet")
    _write_results(results, output / "tasks.parquet")
    write_text_atomically(output / SUMMARY, json.dumps(summary, indent=2))
    return summary
