"""Run one training stage on Ray Train and export the result as a plain Hugging Face folder.

    run_bc(config, model, output_dir, bc_shards)        -> <output_dir>/final   (π_BC)
    run_distill(config, model, output_dir, bc_shards)   -> <output_dir>/final   (a student of config.teacher)
    run_preference(config, model, output_dir, shards)   -> <output_dir>/final   (π_DEPO or π_KTO)

``config`` is what the user sets; ``model`` is the policy the stage starts from (a folder or
Hugging Face id; for DEPO/KTO, π_BC) and ``output_dir`` where it writes its checkpoints,
metrics.jsonl and the final model folder. A preference stage first packs the labeled data
into global batches with mismatched pairs and scores them once with π_BC (``model``); the
scored data is written to <output_dir>/data (or a folder shared by several runs, as a
sweep's trials share it) and reused when a stage runs again with the same settings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from depo_ray.cluster import TRAIN_ACTORS, outlived_actors_ended
from depo_ray.distill.curriculum import Complexity, complexity_scores, epoch_order
from depo_ray.files import fingerprint, replaced_atomically, write_text_atomically
from depo_ray.losses.config import DISTILL_LOSSES
from depo_ray.train.config import FINAL, TrainConfig
from depo_ray.train.data import build_dataset, pack_global_batch, shuffled_rows
from depo_ray.train.distill import ScoreWithTeacher
from depo_ray.train.loop import STATE_FILE, build_model, train_loop
from depo_ray.train.reference import ScoreWithReference

# Ray Train and transformers load on first use: the Ray Data tasks that import this module for
# _numbered and _ranked need neither.

BATCH_INDEX = "batch_index"  # position of a packed global batch in the seeded order
SCORED_MARKER = "COMPLETE.json"  # written last into a scored-data folder: the key it was made with
HEALTH_CHECK_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
HEALTH_CHECK_INTERVAL_S = "0.25"
"""How often Ray Train's controller polls its workers unless the user sets ``HEALTH_CHECK_ENV``:
Ray's default, 2 s, is waited on as the worker group starts and as it ends, seconds of a short
run's fit (benchmarks/train_start.py)."""


def _stored_key(folder: Path) -> dict | None:
    """The key a finished scoring pass left in ``folder``; None while none has finished."""
    marker = folder / SCORED_MARKER
    return json.loads(marker.read_text()) if marker.exists() else None


def _fit(config: TrainConfig, model: str, output_dir: str | Path, dataset, name: str):
    """Train on Ray Train. A worker group that lost a worker (killed, its node gone) is started
    again, up to ``config.max_failures`` times, and resumes from the run's latest checkpoint (a
    new ``fit`` under the same name and storage folder finds it). Any other error, such as a
    checkpoint or data that cannot be read, would fail again the same way: it ends the stage
    at once instead of being retried."""
    import ray.train
    from ray.train.torch import TorchTrainer

    # Ray Train passes this variable on from the driver to its controller and workers
    os.environ.setdefault(HEALTH_CHECK_ENV, HEALTH_CHECK_INTERVAL_S)
    for attempt in range(config.max_failures + 1):
        trainer = TorchTrainer(
            train_loop,
            train_loop_config={"config": config, "model": model, "output_dir": str(output_dir)},
            scaling_config=ray.train.ScalingConfig(
                num_workers=config.num_workers, use_gpu=config.use_gpu,
                resources_per_worker={"CPU": config.cpus_per_worker, **({"GPU": 1} if config.use_gpu else {})},
            ),
            datasets={"train": dataset},
            # Every worker reads every packed global batch, in the same order, and takes its own
            # slice of it.
            dataset_config=ray.train.DataConfig(datasets_to_split=[], execution_options=_ordered()),
            run_config=ray.train.RunConfig(
                name=name,
                storage_path=str(Path(output_dir).resolve() / "ray"),
                failure_config=ray.train.FailureConfig(max_failures=0),  # the retries are this loop's
                checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            ),
        )
        try:
            # the caller's Ctrl-C handler back first, so the controller has ended when the check looks
            with outlived_actors_ended(TRAIN_ACTORS), _sigint_handler_kept():
                return trainer.fit()
        except ray.train.TrainingFailedError as error:
            if attempt == config.max_failures or not lost_a_worker(error):
                raise
            print(f"{name}: a train worker was lost ({attempt + 1} of {config.max_failures} restarts); "
                  "resuming from the latest checkpoint", flush=True)


def lost_a_worker(error: Exception) -> bool:
    """Whether a failed run lost a worker process (worth a restart), as opposed to a worker
    raising (which a restart would repeat). Ray 2.60 reports a dead or hung worker as a failed
    health check (wrapping the actor's error); when one rank dies, the others fail with
    collateral errors (a broken collective), so one such failure among them is enough."""
    from ray.exceptions import RayActorError
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError
    from ray.train.v2.api.exceptions import WorkerGroupError

    return isinstance(error, WorkerGroupError) and any(
        isinstance(failure, (WorkerHealthCheckFailedError, RayActorError)) for failure in error.worker_failures.values())


@contextmanager
def _sigint_handler_kept():
    """Put the caller's SIGINT handler back after ``fit``. In the main thread, Ray Train's
    ``fit`` installs a Ctrl-C handler that holds the handle of its controller actor and leaves
    it installed, so the controller lived on until the next run replaced it, and
    ``outlived_actors_ended`` waited its whole settle time for it (10 s a run)."""
    if threading.current_thread() is not threading.main_thread():  # fit registers none there
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ordered():
    from ray.data import ExecutionOptions

    return ExecutionOptions(preserve_order=True)


def export_final(config: TrainConfig, start: str, output_dir: str | Path, checkpoint) -> Path:
    """The policy ``start`` + trained weights (LoRA merged) -> <output_dir>/final, with the tokenizer."""
    from depo_ray.models.loading import load_tokenizer

    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / STATE_FILE, weights_only=False)
    model = build_model(config, start)
    model.load_state_dict(state["model"], strict=False)
    if config.lora is not None:
        model = model.merge_and_unload()
    final = Path(output_dir) / FINAL
    with replaced_atomically(final) as tmp:
        model.save_pretrained(tmp)
        load_tokenizer(start).save_pretrained(tmp)
    return final


def _prepare_output(config: TrainConfig, model: str, output_dir: str | Path) -> Path:
    _dataset_context()
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    settings = {"model": model, "output_dir": str(output_dir), **asdict(config)}
    write_text_atomically(output / "train_config.json", json.dumps(settings, indent=2, default=str))
    return output


def _dataset_context() -> None:
    """Settings for the datasets built after this (they keep the context of their creation).
    Order preserved: blocks otherwise come in the order tasks finish, so the seeded shuffle,
    the packed batches, their training order and a data_fraction subset would differ from
    run to run. No progress bars: every worker re-reads its data each epoch, and the bars
    put thousands of lines in a job's log, which the per-step metrics already cover."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False


def _first_share(data, fraction: float):
    """The first ``fraction`` of the packed global batches (at least one): in the preserved
    order after the seeded shuffle, the same random subset on every run."""
    return data if fraction == 1 else data.limit(max(1, round(fraction * data.count())))


def _numbered(table):
    return table.append_column(BATCH_INDEX, [np.arange(table.num_rows)])


def _by_batch_index(table):
    return table.sort_by(BATCH_INDEX).drop_columns([BATCH_INDEX])


def _in_batch_order(folder: Path):
    """The packed global batches kept in ``folder``, read back in their numbered order, as one
    block (as they were numbered). Sorted inside that block rather than by ``Dataset.sort``,
    whose shuffle tasks run in workers of their own runtime environment that start cold on
    every read (benchmarks/train_start.py times both)."""
    import ray.data

    scored = ray.data.read_parquet(str(folder), file_extensions=["parquet"])
    return scored.repartition(1).map_batches(_by_batch_index, batch_size=None, batch_format="pyarrow").materialize()


def _fit_and_export(config: TrainConfig, model: str, output_dir: str | Path, data, name: str):
    """Train ``model`` on the first ``data_fraction`` of ``data``; the Ray Train result and the
    exported final model folder."""
    result = _fit(config, model, output_dir, _first_share(data, config.data_fraction), name)
    return result, export_final(config, model, output_dir, result.checkpoint)


def run_bc(config: TrainConfig, model: str, output_dir: str | Path, shards: list[str]):
    if config.loss.name != "sft":
        raise ValueError(f"behaviour cloning uses loss 'sft', got {config.loss.name!r}")
    _prepare_output(config, model, output_dir)
    dataset = build_dataset(shards, model, global_size=config.global_batch_size, num_workers=config.num_workers,
                            preference=False, max_length=config.max_length, seed=config.seed, labels=("desirable",))
    return _fit_and_export(config, model, output_dir, dataset.materialize(), "bc")


def _ranked(table, ranks: list[int]):
    return table.append_column("curriculum_rank", [ranks])


def scored_distill_data(config: TrainConfig, model: str, shards: list[str], folder: str | Path):
    """D_BC scored once by the teacher (top-k distributions and the curriculum's complexity
    parts), ordered by the curriculum, packed into global batches for ``model``'s tokenizer and
    kept in ``folder`` with ``curriculum.jsonl``, each trajectory's score and parts."""
    import ray.data

    _dataset_context()
    output = Path(folder)
    teacher = fingerprint(config.teacher) if Path(config.teacher).exists() else config.teacher
    key = {"model": model, "teacher": teacher, "top_k": config.teacher_top_k, "curriculum": asdict(config.curriculum),
           "global_batch_size": config.global_batch_size, "seed": config.seed, "max_length": config.max_length,
           "format": 1, "shards": sorted(fingerprint(p) for p in shards)}
    if _stored_key(output) != key:
        shutil.rmtree(output, ignore_errors=True)
        rows = shuffled_rows(shards, model, max_length=config.max_length, seed=config.seed, labels=("desirable",))
        scored = rows.map_batches(ScoreWithTeacher, fn_constructor_kwargs={"teacher_path": config.teacher,
                                                                           "top_k": config.teacher_top_k,
                                                                           "threads": config.scoring_threads},
                                  batch_size=1, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=1))
        scored = scored.repartition(1).materialize()  # one block in the seeded order: the ranks below align
        parts = scored.select_columns(["task_id", "reasoning_tokens", "action_tokens", "teacher_entropy"]).take_all()
        scores = complexity_scores([Complexity(**{k: v for k, v in p.items() if k != "task_id"}) for p in parts],
                                   config.curriculum)
        ranks = [0] * len(scores)
        order = epoch_order(scores, config.curriculum.schedule, epoch=0, seed=config.seed, bands=config.curriculum.bands)
        for rank, index in enumerate(order):
            ranks[index] = rank
        output.mkdir(parents=True)
        (output / "curriculum.jsonl").write_text("".join(json.dumps({**p, "score": s, "rank": r}) + "\n"
                                                         for p, s, r in zip(parts, scores, ranks)))
        ordered = scored.map_batches(_ranked, fn_kwargs={"ranks": ranks}, batch_size=None, batch_format="pyarrow")
        packed = ordered.sort("curriculum_rank").map_batches(
            pack_global_batch, batch_size=config.global_batch_size, batch_format="pyarrow",
            fn_kwargs=dict(tokenizer_path=model, global_size=config.global_batch_size,
                           num_workers=config.num_workers, preference=False, max_length=config.max_length,
                           columns=("task_id", "action_mask", "teacher_ids", "teacher_logps")))
        packed.repartition(1).map_batches(_numbered, batch_size=None, batch_format="pyarrow").write_parquet(str(output))
        write_text_atomically(output / SCORED_MARKER, json.dumps(key))
    return _in_batch_order(output)


def run_distill(config: TrainConfig, model: str, output_dir: str | Path, shards: list[str],
                scored_folder: str | Path | None = None):
    """A student (``model``) trained on the teacher's distributions over D_BC; the scored data
    is kept in ``scored_folder`` (default <output_dir>/data)."""
    from depo_ray.models.loading import load_tokenizer

    if config.teacher is None:
        raise ValueError(f"distillation needs a teacher (loss {config.loss.name!r})")
    if load_tokenizer(config.teacher).get_vocab() != load_tokenizer(model).get_vocab():
        raise ValueError(f"teacher {config.teacher} and student {model} have different tokenizers; "
                         "distillation compares their next-token distributions token by token")
    _prepare_output(config, model, output_dir)
    data = scored_distill_data(config, model, shards, scored_folder or Path(output_dir) / "data")
    return _fit_and_export(config, model, output_dir, data, config.loss.name)


def scored_key(config: TrainConfig, model: str, shards: list[str]) -> dict:
    """What scored data depends on: π_BC, the packing settings and the shards themselves."""
    return {"model": model, "global_batch_size": config.global_batch_size, "num_workers": config.num_workers,
            "seed": config.seed, "max_length": config.max_length,
            "format": 2,  # raised when the stored columns change: 2 added batch_index
            # size and mtime too: a shard rewritten under the same name must not reuse old scores
            "shards": sorted(fingerprint(p) for p in shards)}


def adopt_scored(config: TrainConfig, model: str, shards: list[str], folder: str | Path, source: str | Path) -> bool:
    """Fill ``folder`` with scored data computed elsewhere (``source``: a pipeline seed's) when
    that was made from the same π_BC, settings and shards, instead of scoring again: with a
    pretrained model the scoring pass takes as long as a training stage. True when ``folder``
    now holds scores for this key."""
    key, folder, source = scored_key(config, model, shards), Path(folder), Path(source)
    if _stored_key(folder) == key:
        return True
    theirs = _stored_key(source)
    # the same π_BC may be named by another path (a link to the bootstrap's policy)
    if theirs is None or Path(theirs.get("model", "")).resolve() != Path(model).resolve() or {**theirs, "model": model} != key:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(SCORED_MARKER))
    write_text_atomically(folder / SCORED_MARKER, json.dumps(key))
    return True


def scored_preference_data(config: TrainConfig, model: str, shards: list[str], folder: str | Path):
    """Packed global batches with the log-probs of π_BC (``model``), computed once and kept in
    ``folder``."""
    import ray.data

    _dataset_context()
    output = Path(folder)
    key = scored_key(config, model, shards)
    if _stored_key(output) != key:
        shutil.rmtree(output, ignore_errors=True)
        packed = build_dataset(shards, model, global_size=config.global_batch_size, num_workers=config.num_workers,
                               preference=True, max_length=config.max_length, seed=config.seed,
                               labels=("desirable", "undesirable"))
        # Materialise the packed batches first: the scoring actor holds a CPU that the parquet
        # reader's own actors would otherwise wait for on a small machine.
        # Numbered, because the scoring actor's output came back in a different order from run
        # to run (Ray 2.60, preserve_order set), which changed KTO's and DEPO's batch order.
        # One block, so that the numbering sees every batch in the seeded order at once.
        numbered = packed.materialize().repartition(1).map_batches(_numbered, batch_size=None, batch_format="pyarrow")
        numbered.map_batches(ScoreWithReference, fn_constructor_kwargs={"model_path": model, "threads": config.scoring_threads},
                             batch_size=1, batch_format="pyarrow",
                             compute=ray.data.ActorPoolStrategy(size=1)).write_parquet(str(output))
        write_text_atomically(output / SCORED_MARKER, json.dumps(key))
    return _in_batch_order(output)


def run_preference(config: TrainConfig, model: str, output_dir: str | Path, shards: list[str],
                   scored_folder: str | Path | None = None):
    """π_BC (``model``) trained on D and U with a preference loss; the scored data is kept in
    ``scored_folder`` (default <output_dir>/data)."""
    if config.loss.name in ("sft", *DISTILL_LOSSES):
        raise ValueError("a preference stage needs a preference loss (kto, depo, depo_penalty, depo_weighted), "
                         f"got {config.loss.name!r}")
    _prepare_output(config, model, output_dir)
    data = scored_preference_data(config, model, shards, scored_folder or Path(output_dir) / "data")
    return _fit_and_export(config, model, output_dir, data, config.loss.name)
