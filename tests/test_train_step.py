"""One optimizer step on its own (no Ray): micro-batching, log-probs, metrics after a restart."""

import json
import os
from dataclasses import replace

import pytest
import torch

from depo_ray.losses.registry import get_loss
from depo_ray.losses.config import LossConfig
from depo_ray.models.loading import load_model
from depo_ray.train.config import LoraSettings, TrainConfig
from depo_ray.train.logprobs import masked_logps, sequence_logps
from depo_ray.train.loop import build_model, keep_metrics_until
from depo_ray.train.reference import ScoreWithReference, use_threads
from depo_ray.train.steps import micro_batches, preference_step, sft_step


def random_part(size: int, vocab: int, seed: int) -> dict:
    """A local batch of sequences of different lengths with assistant masks and fake
    reference log-probs, shaped like a packed training row."""
    generator = torch.Generator().manual_seed(seed)

    def sequence(length):
        ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
        mask = [0] * (length // 3) + [1] * (length - length // 3)
        return ids, mask

    matched = [sequence(12 + 7 * i) for i in range(size)]
    mismatched = [sequence(9 + 5 * ((i + 2) % size)) for i in range(size)]
    return {
        "input_ids": [ids for ids, _ in matched], "assistant_mask": [mask for _, mask in matched],
        "kl_input_ids": [ids for ids, _ in mismatched], "kl_assistant_mask": [mask for _, mask in mismatched],
        "ref_logps": (-60 * torch.rand(size, generator=generator)).tolist(),
        "kl_ref_logps": (-60 * torch.rand(size, generator=generator)).tolist(),
        "desirable": [i % 3 != 0 for i in range(size)],
        "tokens_per_step": [5.0 + i for i in range(size)], "steps": [2.0 + i % 4 for i in range(size)],
    }


def gradients_and_metrics(model_dir, part, config, step):
    torch.manual_seed(0)
    model = load_model(str(model_dir))
    metrics, _ = step(model, part, 0, get_loss(config.loss.name), config)
    return {n: p.grad.clone() for n, p in model.named_parameters()}, metrics


def test_micro_batches_cover_every_sample_once_sorted_by_length():
    sequences = [[0] * n for n in (5, 1, 4, 2, 3)]
    groups = micro_batches(sequences, 2)
    assert groups == [[1, 3], [4, 2], [0]]
    assert micro_batches(sequences, None) == [[1, 3, 4, 2, 0]]


def test_reference_scores_land_on_their_own_sequences_whatever_the_chunks_length_order(tiny_model_dir):
    part = random_part(5, 60, seed=4)
    sequences, masks = part["input_ids"][::-1], part["assistant_mask"][::-1]  # longest first: sorting moves them
    before = torch.get_num_threads()
    scorer = ScoreWithReference(str(tiny_model_dir), chunk=2)
    assert torch.get_num_threads() == before  # built outside Ray, it leaves the process's threads alone
    with torch.no_grad():
        alone = [sequence_logps(scorer.model, [s], [m], scorer.pad_id).item() for s, m in zip(sequences, masks)]
    assert scorer._score(sequences, masks) == pytest.approx(alone, abs=1e-4)


def test_the_scoring_actor_takes_the_training_workers_cores_up_to_those_it_may_run_on():
    assert TrainConfig(num_workers=2, cpus_per_worker=3).scoring_threads == 6
    assert TrainConfig(num_workers=2, cpus_per_worker=3, use_gpu=True).scoring_threads == 3
    before, cores = torch.get_num_threads(), len(os.sched_getaffinity(0))
    try:
        assert use_threads(1) == 1 == torch.get_num_threads()
        assert use_threads(cores + 5) == cores == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def near_the_policy(part: dict, model_dir) -> dict:
    """The part with reference log-probs within a few nats of the policy's: random ones are
    tens of nats off, where every sigmoid sits on a flat tail and the desirable term (its
    bonus, its weights) adds next to nothing to the gradient."""
    model = load_model(str(model_dir))
    with torch.no_grad():
        policy = sequence_logps(model, part["input_ids"], part["assistant_mask"], 0)
        kl_policy = sequence_logps(model, part["kl_input_ids"], part["kl_assistant_mask"], 0)
    offsets = torch.linspace(-3, 3, len(policy))
    return {**part, "ref_logps": (policy + offsets).tolist(), "kl_ref_logps": (kl_policy - offsets - 1).tolist()}  # z0 = 1


@pytest.mark.parametrize("loss", ["sft", "depo", "kto", "depo_weighted"])
def test_micro_batching_gives_the_whole_batch_gradient(tiny_model_dir, tiny_tokenizer, loss):
    part = random_part(5, len(tiny_tokenizer), seed=1)
    if loss != "sft":
        part = near_the_policy(part, tiny_model_dir)
    step = sft_step if loss == "sft" else preference_step
    whole = TrainConfig(lora=None, global_batch_size=5,
                        loss=LossConfig(name=loss, alpha1=1.0, alpha2=2.0))
    grads_whole, metrics_whole = gradients_and_metrics(tiny_model_dir, part, whole, step)
    grads_micro, metrics_micro = gradients_and_metrics(tiny_model_dir, part, replace(whole, micro_batch_size=2), step)
    # abs: a log-ratio of a few nats is a difference of float32 log-probs of about −100
    assert metrics_micro == pytest.approx(metrics_whole, rel=1e-5, abs=1e-5, nan_ok=True)
    for name, grad in grads_whole.items():
        assert torch.allclose(grads_micro[name], grad, rtol=1e-4, atol=1e-7), name
    assert any(grad.abs().sum() > 0 for grad in grads_whole.values())


def test_log_probs_skip_the_lm_head_where_no_next_token_counts_and_match_the_full_softmax(tiny_model_dir):
    model = load_model(str(tiny_model_dir))
    part = random_part(3, model.config.vocab_size, seed=1)
    sequences, masks = part["input_ids"], part["assistant_mask"]
    logps, mask = masked_logps(model, sequences, masks, pad_id=0)
    longest = max(len(s) for s in sequences)
    assert logps.shape == mask.shape and logps.shape[1] < longest - 1  # the shortest prompt's positions are left out
    with torch.no_grad():
        for row, (ids, counts) in enumerate(zip(sequences, masks)):
            full = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1].float(), dim=-1)
            expected = sum(full[t, ids[t + 1]] for t in range(len(ids) - 1) if counts[t + 1])
            assert (logps[row] * mask[row]).sum().item() == pytest.approx(expected.item(), abs=1e-4)
    assert mask.sum().item() == sum(sum(m[1:]) for m in masks)


def test_a_restart_drops_the_metrics_of_steps_past_its_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    keep_metrics_until(path, 0)  # no file yet: nothing to do
    assert not path.exists()
    path.write_text("".join(json.dumps({"step": step, "loss": 1.0 / step}) + "\n" for step in range(1, 8)))
    keep_metrics_until(path, 4)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3, 4]
    keep_metrics_until(path, 0)  # died before its first checkpoint: starts over
    assert path.read_text() == ""


def test_a_metrics_line_cut_off_by_a_killed_process_does_not_stop_the_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": step}) + "\n" for step in (1, 2, 3)) + '{"step": 4, "lo')
    keep_metrics_until(path, 3)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]


@pytest.mark.parametrize("lora", [None, LoraSettings(r=4, alpha=8, dropout=0.0)])
def test_gradient_checkpointing_gives_the_same_gradient(tiny_model_dir, tiny_tokenizer, lora, monkeypatch):
    part = near_the_policy(random_part(4, len(tiny_tokenizer), seed=2), tiny_model_dir)
    config = TrainConfig(lora=lora, global_batch_size=4,
                         micro_batch_size=2, loss=LossConfig(name="depo", alpha1=1.0, alpha2=1.0))

    def gradients(config):
        torch.manual_seed(0)  # the same adapter initialisation
        model = build_model(config, str(tiny_model_dir))
        model.train()
        layer_calls = []
        mlp = type(next(m for name, m in model.named_modules() if name.endswith("layers.0.mlp")))
        forward = mlp.forward
        # a patched forward, not a hook: the checkpoint's recomputation runs without hooks
        monkeypatch.setattr(mlp, "forward", lambda self, *a, **k: layer_calls.append(1) or forward(self, *a, **k))
        preference_step(model, part, 0, get_loss("depo"), config)
        monkeypatch.undo()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}, len(layer_calls)

    (plain, plain_calls), (checkpointed, checkpointed_calls) = (
        gradients(config), gradients(replace(config, gradient_checkpointing=True)))
    assert checkpointed_calls > plain_calls  # the backward pass recomputed the layer
    assert plain.keys() == checkpointed.keys() and plain
    for name, grad in plain.items():
        assert torch.allclose(checkpointed[name], grad, rtol=1e-4, atol=1e-7), name
    assert any(grad.abs().sum() > 0 for grad in plain.values())
