"""Behaviour cloning and DEPO on Ray Train with the tiny policy (local Ray cluster)."""

import json
import os
import signal
import threading
import time
from dataclasses import replace

import pytest
import torch

from depo_ray.bootstrap.warm_start import expert_records
from depo_ray.env_setup import EnvConfig
from depo_ray.labeling import LabelConfig, label_records, select_bc
from depo_ray.losses.config import LossConfig
from depo_ray.models.loading import load_model
from depo_ray.records import write_shard
from depo_ray.tokens import tokens_per_turn
from depo_ray.train.config import LoraSettings, TrainConfig
from depo_ray.train.run import run_bc, run_preference
from environments.babyai.levels import tasks_for_levels
from tests.conftest import session_ray

pytestmark = pytest.mark.ray

LEVELS = ["BabyAI-GoToRedBallGrey-v0", "BabyAI-GoToLocalS8N7-v0", "BabyAI-Open-v0", "BabyAI-Pickup-v0"]


@pytest.fixture(scope="module")
def cluster():
    session_ray()


@pytest.fixture(scope="module")
def shards(tmp_path_factory, tiny_model_dir, tiny_tokenizer):
    """Labeled expert data: short successes (D), turn-limited failures (U)."""
    root = tmp_path_factory.mktemp("data")
    records = expert_records(tasks_for_levels(LEVELS, range(6)), tiny_tokenizer, EnvConfig(options={"max_turns": 12}),
                             {"detour_share": 0.5}, progress=False)
    labeled = [wandering(r, tiny_tokenizer) if r.label == "undesirable" else r
               for r in label_records(records, LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0))]
    assert {r.label for r in labeled} >= {"desirable", "undesirable"}
    write_shard(labeled, root / "labeled" / "part-0.parquet")
    write_shard(select_bc(labeled, LabelConfig()), root / "bc" / "part-0.parquet")
    return {"labeled": [str(root / "labeled" / "part-0.parquet")], "bc": [str(root / "bc" / "part-0.parquet")]}


def wandering(record, tokenizer):
    """The failure played as an agent that only turns on the spot. The expert's own cut-off
    demonstrations act like D, so a short preference run raised them with D (in full-suite
    runs: undesirable reward 0 -> 19, z0 0 -> 88, loss up)."""
    messages = [{**m, "content": "Thought: i turn left to look around. Action: turn left"} if m["role"] == "assistant" else m
                for m in record.messages]
    total = sum(tokens_per_turn(tokenizer, messages))
    return replace(record, messages=messages, total_tokens=total, avg_tokens_per_step=total / record.steps)


def bc_config(**overrides) -> TrainConfig:
    base = TrainConfig(loss=LossConfig(name="sft"), lora=None, learning_rate=1e-3, epochs=3, global_batch_size=4, num_workers=1,
                       checkpoint_every=4)
    return replace(base, **overrides)


def metrics(output) -> list[dict]:
    """Last logged entry of every step (a resumed run logs some steps twice)."""
    by_step = {}
    for line in (output / "metrics.jsonl").read_text().splitlines():
        entry = json.loads(line)
        by_step[entry["step"]] = entry
    return [by_step[s] for s in sorted(by_step)]


@pytest.fixture(scope="module")
def bc_model(cluster, shards, tiny_model_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("bc")
    _, final = run_bc(bc_config(), str(tiny_model_dir), output, shards["bc"])
    return output, final


def test_bc_lowers_the_loss_and_exports_a_plain_model(bc_model):
    output, final = bc_model
    losses = [m["loss"] for m in metrics(output)]
    assert len(losses) >= 6 and losses[-1] < losses[0]
    model = load_model(str(final))
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_lora_adapters_are_merged_into_the_final_model_and_the_run_leaves_no_controller_alive(cluster, shards, tiny_model_dir,
                                                                                             tmp_path):
    from depo_ray.cluster import actor_ids, end_outlived_actors

    config = bc_config(lora=LoraSettings(), epochs=1)
    handler, before = signal.getsignal(signal.SIGINT), actor_ids(("TrainController",))
    _, final = run_bc(config, str(tiny_model_dir), tmp_path, shards["bc"])
    # Ray Train's Ctrl-C handler held the controller's handle after fit: the caller's is back,
    # so the controller has ended and the hung-process check found it dead at once
    assert signal.getsignal(signal.SIGINT) is handler
    started = actor_ids(("TrainController",)) - before
    began = time.monotonic()
    assert len(started) == 1 and end_outlived_actors(("TrainController",), started, settle_s=30) == []
    assert time.monotonic() - began < 10
    merged, base = load_model(str(final)), load_model(str(tiny_model_dir))
    assert set(dict(merged.named_parameters())) == set(dict(base.named_parameters()))
    changed = [n for n, p in merged.named_parameters() if not torch.equal(p, dict(base.named_parameters())[n])]
    assert any("q_proj" in n for n in changed)


def test_two_workers_follow_the_one_worker_loss_curve(bc_model, shards, tiny_model_dir, tmp_path):
    one, two = bc_model[0], tmp_path / "two"  # the module's BC run is the one-worker curve
    run_bc(bc_config(num_workers=2), str(tiny_model_dir), two, shards["bc"])
    curve_one, curve_two = [m["loss"] for m in metrics(one)], [m["loss"] for m in metrics(two)]
    assert len(curve_one) == len(curve_two) >= 4
    assert curve_two == pytest.approx(curve_one, rel=1e-3)


def evaluate_on_training_batches(model_dir, config: TrainConfig, scored_dir) -> dict[str, float]:
    """Mean loss and implied rewards of D and U on the stage's own packed batches under a model."""
    import glob

    import pyarrow.parquet as pq

    from depo_ray.losses.registry import get_loss
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.train.data import local_slice
    from depo_ray.train.steps import preference_step
    from depo_ray.train.run import BATCH_INDEX

    rows = [r for f in sorted(glob.glob(f"{scored_dir}/*.parquet"))
            for r in pq.read_table(f).drop_columns([BATCH_INDEX]).to_pylist()]
    model, pad_id = load_model(str(model_dir)).eval(), load_tokenizer(str(model_dir)).pad_token_id
    with torch.no_grad():
        logs = [preference_step(model, local_slice(r, 0, 1), pad_id, get_loss(config.loss.name), config, backward=False)[0] for r in rows]
    present = lambda key: [m[key] for m in logs if m[key] is not None]  # noqa: E731 (a class can be absent from a batch)
    return {key: sum(present(key)) / len(present(key)) for key in ("loss", "reward_desirable", "reward_undesirable")}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Where the DEPO runs below keep π_BC's scores of the packed batches: they pack alike
    (batch size, workers, seed), so the first run scores and the second reuses them."""
    return tmp_path_factory.mktemp("scored")


def test_a_short_depo_run_lowers_the_loss_and_raises_the_desirable_reward(bc_model, shards, scored, tmp_path):
    _, pi_bc = bc_model
    config = TrainConfig(lora=None, learning_rate=5e-5, epochs=4, global_batch_size=4,
                         num_workers=1, checkpoint_every=50, loss=LossConfig(name="depo", alpha1=1.0, alpha2=1.0, lambda_u=0.3))
    _, final = run_preference(config, str(pi_bc), tmp_path, shards["labeled"], scored_folder=scored)
    log = metrics(tmp_path)
    before, after = evaluate_on_training_batches(pi_bc, config, scored), evaluate_on_training_batches(final, config, scored)
    assert len(log) >= 8 and all(m["z0"] >= 0 and "bonus" in m and m["tokens_per_s"] > 0 for m in log)
    assert (before["reward_desirable"], before["reward_undesirable"]) == (0.0, 0.0)  # π_BC is the reference: r = 0
    assert after["loss"] < before["loss"], (before, after)
    assert after["reward_desirable"] > 0 > after["reward_undesirable"], (before, after)


def test_a_data_fraction_trains_on_that_share_of_the_scored_batches_in_their_packed_order(bc_model, shards, scored,
                                                                                         tmp_path):
    """KTO and DEPO train on the scored batches in the seeded order they were packed in (the
    scoring actor's output order alone changed it from run to run); a data fraction trains
    on that share of them."""
    from depo_ray.train.data import build_dataset
    from depo_ray.train.run import scored_preference_data

    _, pi_bc = bc_model
    config = TrainConfig(loss=LossConfig(name="depo"), lora=None,
                         learning_rate=1e-4, epochs=1, global_batch_size=4, num_workers=1, data_fraction=0.5)
    run_preference(config, str(pi_bc), tmp_path, shards["labeled"], scored_folder=scored)
    packed = build_dataset(shards["labeled"], str(pi_bc), global_size=4, num_workers=1, preference=True,
                           max_length=config.max_length, seed=config.seed, labels=("desirable", "undesirable"))

    def sequences(dataset):
        return [[list(ids) for ids in row["input_ids"]] for row in dataset.iter_rows()]

    expected = sequences(packed)
    assert len(expected) >= 3 and sequences(scored_preference_data(config, str(pi_bc), shards["labeled"], scored)) == expected
    assert len(metrics(tmp_path)) == round(len(expected) / 2)


def test_a_student_distilled_with_sad_on_a_curriculum_moves_toward_its_teacher(bc_model, shards, tiny_model_dir, tmp_path):
    from depo_ray.distill.curriculum import CurriculumConfig
    from depo_ray.records import read_records
    from depo_ray.tokens import chat_tokens
    from depo_ray.train.distill import ScoreWithTeacher
    from depo_ray.train.run import run_distill

    _, teacher = bc_model
    config = bc_config(loss=LossConfig(name="sad"), teacher=str(teacher), teacher_top_k=8,
                       curriculum=CurriculumConfig(schedule="simple_to_complex"), epochs=2, num_workers=2,
                       micro_batch_size=2)
    _, final = run_distill(config, str(tiny_model_dir), tmp_path, shards["bc"])
    scored = [json.loads(line) for line in (tmp_path / "data" / "curriculum.jsonl").read_text().splitlines()]
    assert sorted(r["rank"] for r in scored) == list(range(len(scored)))
    # equal-count bands of the score, simplest band first (the seed orders each band inside)
    band = [rank * config.curriculum.bands // len(scored) for rank in range(len(scored))]
    by_score, by_rank = sorted(r["score"] for r in scored), [r["score"] for r in sorted(scored, key=lambda r: r["rank"])]
    for b in set(band):
        assert sorted(s for s, i in zip(by_rank, band) if i == b) == [s for s, i in zip(by_score, band) if i == b]
    from depo_ray.train.run import scored_distill_data

    trained_order = [task for batch in scored_distill_data(config, str(tiny_model_dir), shards["bc"], tmp_path / "data").iter_rows()
                     for task in batch["task_id"]]  # read back from the kept data, in training order
    by_rank = [r["task_id"] for r in sorted(scored, key=lambda r: r["rank"])]
    assert trained_order == by_rank[:len(trained_order)] and len(trained_order) == 4 * (len(scored) // 4)
    steps = metrics(tmp_path)
    assert len(steps) == 2 * (len(scored) // 4) and all(s["kl_reasoning"] > 0 and s["kl_action"] > 0 for s in steps)

    def mean_kl(model_dir):  # KL(teacher ‖ model) over D_BC's assistant tokens, as the loss sees it
        from depo_ray.losses.distill import coarse_kl
        from depo_ray.models.loading import load_tokenizer
        from depo_ray.train.steps import target_positions

        teacher_scores, model, tokenizer = ScoreWithTeacher(str(teacher), 8), load_model(str(model_dir)), load_tokenizer(str(teacher))
        total, count = 0.0, 0
        for record in read_records(shards["bc"][0]):
            tokens = chat_tokens(tokenizer, record.messages)
            ids, logps, _ = teacher_scores.score(tokens.input_ids, tokens.assistant_mask)
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([tokens.input_ids])).logits[0]
            where = target_positions(tokens.assistant_mask)
            student = torch.log_softmax(logits[where], -1).gather(-1, torch.tensor(ids).view(-1, 8))
            kl = coarse_kl(torch.tensor(logps).view(-1, 8), student)
            total, count = total + float(kl.sum()), count + len(where)
        return total / count

    assert mean_kl(final) < 0.5 * mean_kl(tiny_model_dir)


def test_a_killed_worker_resumes_from_its_last_checkpoint(cluster, shards, tiny_model_dir, tmp_path, capfd):
    import ray
    from ray.util.state import list_actors

    config = bc_config(epochs=8, checkpoint_every=2, num_workers=2, max_failures=2)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(result=run_bc(config, str(tiny_model_dir), tmp_path, shards["bc"])))
    runner.start()
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and runner.is_alive():
        # Kill only once the controller has registered a checkpoint (it writes this snapshot).
        if (tmp_path / "ray" / "bc" / "checkpoint_manager_snapshot.json").exists():
            # this test's cluster by its address: another local cluster may run beside it
            workers = list_actors(address=ray.get_runtime_context().gcs_address,
                                  filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
            if workers:
                killed = workers[-1]["pid"]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    runner.join(timeout=600)
    assert killed is not None, "training finished before a worker could be killed"
    assert "a train worker was lost (1 of 2 restarts)" in capfd.readouterr().out
    log = metrics(tmp_path)
    steps_per_epoch = sum(1 for m in log if m["epoch"] == 0)
    assert [m["step"] for m in log] == list(range(1, 8 * steps_per_epoch + 1))
    assert max(m["resumed_from"] for m in log) >= 2  # the restarted workers skipped checkpointed steps
    assert outcome["result"][0].checkpoint is not None
    assert (tmp_path / "final" / "config.json").exists()


def test_an_error_the_training_code_raises_fails_the_run_at_once(cluster, shards, tiny_model_dir, tmp_path, capfd):
    """Weights that cannot be read fail every worker the same way: no restart (three worker
    groups before, with max_failures 2)."""
    import shutil

    import ray.train

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ray.train.TrainingFailedError):
        run_bc(bc_config(max_failures=2), str(broken), tmp_path / "out", shards["bc"])
    assert "a train worker was lost" not in capfd.readouterr().out


def test_a_lost_worker_is_told_apart_from_a_raising_one():
    from ray.exceptions import RayActorError
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError
    from ray.train.v2.api.exceptions import ControllerError, WorkerGroupError

    from depo_ray.train.run import lost_a_worker

    died = WorkerHealthCheckFailedError("worker 1 is dead", RayActorError())
    assert lost_a_worker(WorkerGroupError("", {0: RuntimeError("gloo: connection closed by peer"), 1: died}))
    assert not lost_a_worker(WorkerGroupError("", {0: ValueError("bad checkpoint"), 1: ValueError("bad checkpoint")}))
    assert not lost_a_worker(ControllerError(ValueError("storage unreadable")))
