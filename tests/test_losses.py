"""KTO / DEPO losses on hand-computed examples, and against TRL's KTOTrainer."""

import json
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from trl import KTOTrainer

from depo_ray.losses.preference import PreferenceBatch, efficiency_weights, kl_reference_point
from depo_ray.losses.registry import get_loss, prepare_batch, register_loss
from depo_ray.losses.config import LossConfig
from depo_ray.losses.sft import SFTBatch


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def make_batch(desirable, policy, reference, kl_policy, kl_reference, tokens, steps):
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return PreferenceBatch(t(policy), t(reference), t(kl_policy), t(kl_reference),
                           torch.tensor(desirable), t(tokens), t(steps))


BATCH = make_batch(
    desirable=[True, False, True],
    policy=[-10.0, -12.0, -7.0], reference=[-11.0, -11.0, -8.0],
    kl_policy=[-9.0, -14.0, -10.0], kl_reference=[-10.0, -14.5, -9.0],
    tokens=[20.0, 40.0, 10.0], steps=[4.0, 8.0, 2.0],
)


def test_depo_on_a_hand_computed_batch():
    config = LossConfig(name="depo", beta=0.5, lambda_d=1.0, lambda_u=2.0, alpha1=2.0, alpha2=1.0)
    z0 = max(0.0, ((1.0) + (0.5) + (-1.0)) / 3)  # mean of kl_policy - kl_reference
    b0, b2 = 2 / 20 + 1 / 4, 2 / 10 + 1 / 2
    expected = (
        (1 - sigmoid(0.5 * (1.0 + b0 - z0)))
        + 2.0 * (1 - sigmoid(0.5 * (z0 - (-1.0))))
        + (1 - sigmoid(0.5 * (1.0 + b2 - z0)))
    ) / 3
    loss, metrics = get_loss("depo")(BATCH, config)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert metrics["z0"] == pytest.approx(z0)
    assert metrics["bonus"] == pytest.approx((b0 + b2) / 2)
    assert metrics["reward_desirable"] == pytest.approx(0.5 * 1.0)
    assert metrics["reward_undesirable"] == pytest.approx(0.5 * -1.0)


def test_penalty_variant_puts_the_bonus_into_the_undesirable_branch():
    config = LossConfig(beta=0.5, lambda_u=2.0, alpha1=2.0, alpha2=1.0)
    z0 = 0.5 / 3
    b1 = 2 / 40 + 1 / 8
    depo, _ = get_loss("depo")(BATCH, config)
    penalty, _ = get_loss("depo_penalty")(BATCH, config)
    undesirable_depo = 2.0 * (1 - sigmoid(0.5 * (z0 + 1.0)))
    undesirable_penalty = 2.0 * (1 - sigmoid(0.5 * (z0 + 1.0 + b1)))
    assert (penalty - depo).item() == pytest.approx((undesirable_penalty - undesirable_depo) / 3, abs=1e-12)


def test_zero_alphas_is_kto_and_z0_is_clamped():
    batch = make_batch([True, False], [-5.0, -6.0], [-4.0, -6.5], [-9.0, -9.0], [-8.0, -8.0], [5.0, 5.0], [1.0, 1.0])
    zero = LossConfig(alpha1=0.0, alpha2=0.0)
    assert get_loss("depo")(batch, zero)[0].item() == pytest.approx(get_loss("kto")(batch, zero)[0].item())
    # mismatched pairs are *more* likely under π_BC: the raw estimate is -1, z0 is 0
    assert get_loss("kto")(batch, zero)[1]["z0"] == 0.0


@pytest.mark.parametrize("desirable", [[True, True, True], [False, False]])
def test_one_sided_batches_work(desirable):
    n = len(desirable)
    batch = make_batch(desirable, [-1.0] * n, [-2.0] * n, [-1.0] * n, [-1.0] * n, [3.0] * n, [2.0] * n)
    loss, metrics = get_loss("depo")(batch, LossConfig())
    assert torch.isfinite(loss)
    assert metrics["count_desirable"] == sum(desirable)
    absent = "reward_undesirable" if all(desirable) else "reward_desirable"
    assert metrics[absent] is None and json.loads(json.dumps(metrics)) == metrics  # valid JSON, no NaN


def test_batch_of_one_is_refused():
    batch = make_batch([True], [-1.0], [-2.0], [-1.0], [-1.0], [3.0], [2.0])
    with pytest.raises(ValueError, match="local batch of at least 2"):
        get_loss("kto")(batch, LossConfig())


def test_z0_reduces_sum_and_count_not_means():
    """Two workers with batches of 3 and 2: the global mean weighs every pair once."""
    a = (torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3))
    b = (torch.tensor([10.0, 14.0]), torch.zeros(2))
    totals = torch.stack([torch.tensor([6.0, 3.0]), torch.tensor([24.0, 2.0])]).sum(0)
    fake_all_reduce = lambda local: totals  # noqa: E731  (what torch.distributed would return)
    assert kl_reference_point(*a, fake_all_reduce).item() == pytest.approx(30 / 5)
    assert kl_reference_point(*b, fake_all_reduce).item() == pytest.approx(30 / 5)  # not (2 + 12) / 2


def test_unknown_and_duplicate_losses_are_refused():
    with pytest.raises(ValueError, match="unknown loss 'dpo'"):
        get_loss("dpo")
    with pytest.raises(ValueError, match="already registered"):
        register_loss("kto")(lambda *a: None)


def test_sft_averages_over_assistant_tokens_only():
    logps = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    mask = torch.tensor([[0, 1, 1], [1, 0, 0]])
    loss, metrics = get_loss("sft")(SFTBatch(logps, mask), LossConfig(name="sft"))
    assert loss.item() == pytest.approx((2 + 3 + 4) / 3) and metrics["tokens"] == 3


def trl_kto_loss(batch: PreferenceBatch, config: LossConfig) -> float:
    """Run TRL's own KTOTrainer._compute_loss with a model whose per-token log-probs sum to
    the given sequence log-probs, so both implementations see identical log-probs."""
    n, width = batch.policy_logps.numel(), 4
    per_token = torch.zeros(n, width - 1, dtype=torch.float64)
    per_token[:, 0] = batch.policy_logps
    outputs = SimpleNamespace(log_probs=per_token, entropy=torch.zeros_like(per_token), mean_logits=torch.zeros_like(per_token))
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True),
        accelerator=SimpleNamespace(device="cpu", gather_for_metrics=lambda x: x.reshape(-1)),
        _compute_kl_logps=lambda model, inputs: batch.kl_policy_logps,
        _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1,
        aux_loss_enabled=False, loss_type="kto", calculate_KL=True, precompute_ref_logps=True,
        beta=config.beta, desirable_weight=config.lambda_d, undesirable_weight=config.lambda_u,
    )
    inputs = {
        "input_ids": torch.ones(n, width, dtype=torch.long),
        "attention_mask": torch.ones(n, width, dtype=torch.long),
        "completion_mask": torch.ones(n, width, dtype=torch.long),
        "label": batch.desirable,
        "ref_logps": batch.reference_logps,
        "ref_KL_logps": batch.kl_reference_logps,
    }
    return KTOTrainer._compute_loss(trainer, lambda **kwargs: outputs, inputs, return_outputs=False).item()


@pytest.mark.parametrize("seed", range(5))
def test_zero_alpha_depo_matches_trl_kto(seed):
    generator = torch.Generator().manual_seed(seed)
    n = 2 + seed  # odd and even batch sizes
    rand = lambda: -20 * torch.rand(n, generator=generator, dtype=torch.float64)  # noqa: E731
    desirable = torch.rand(n, generator=generator) < 0.5
    batch = PreferenceBatch(rand(), rand(), rand(), rand(), desirable, torch.full((n,), 7.0), torch.full((n,), 3.0))
    config = LossConfig(beta=0.1 + 0.1 * seed, lambda_d=1.0, lambda_u=1.5, alpha1=0.0, alpha2=0.0)
    ours = get_loss("depo")(batch, config)[0].item()
    assert ours == pytest.approx(trl_kto_loss(batch, config), abs=1e-6)


@pytest.mark.parametrize("logratio, bonus_helps", [(1.0, False), (-6.0, True)])
def test_the_bonus_reweights_a_desirable_trajectory_by_the_sign_of_its_argument(logratio, bonus_helps):
    """The bonus adds no gradient term of its own: it moves the desirable argument
    β(r + b − z0), so it raises the push on an efficient trajectory only where r + b < z0
    and lowers it where the argument is already positive."""
    config = LossConfig(beta=0.5, alpha1=2.0, alpha2=1.0)  # one-turn, 10-token trajectory: b = 1.2

    def push(name):
        batch = make_batch(desirable=[True, False], policy=[-8.0 + logratio, -12.0], reference=[-8.0, -12.0],
                           kl_policy=[-9.0, -9.0], kl_reference=[-9.0, -9.0], tokens=[10.0, 10.0], steps=[1.0, 1.0])
        batch.policy_logps.requires_grad_()
        loss, metrics = get_loss(name)(batch, config)
        loss.backward()
        assert metrics["z0"] == 0.0
        return -batch.policy_logps.grad[0].item()  # how hard the loss pushes the desirable log-prob up

    kto, depo = push("kto"), push("depo")
    assert kto > 0 and depo > 0
    assert (depo > kto) == bonus_helps
    b = 2.0 / 10 + 1.0 / 1
    sigma_prime = lambda x: sigmoid(x) * (1 - sigmoid(x))  # noqa: E731
    assert depo / kto == pytest.approx(sigma_prime(0.5 * (logratio + b)) / sigma_prime(0.5 * logratio), rel=1e-9)


# --- depo_weighted: KTO with an efficiency weight on the desirable term ------------------------

def desirable_pushes(name, config, logratio, tokens, steps):
    """How hard the loss pushes each trajectory's log-prob up (−∂loss/∂log π): desirable
    trajectories with the same log-ratio and the given efficiency, then one undesirable."""
    n = len(tokens)
    batch = make_batch(desirable=[True] * n + [False], policy=[-8.0 + logratio] * n + [-12.0], reference=[-8.0] * n + [-12.0],
                       kl_policy=[-9.0] * (n + 1), kl_reference=[-9.0] * (n + 1), tokens=tokens + [20.0], steps=steps + [5.0])
    batch.policy_logps.requires_grad_()
    loss, metrics = get_loss(name)(batch, config)
    loss.backward()
    assert metrics["z0"] == 0.0
    return (-batch.policy_logps.grad).tolist(), loss, metrics


@pytest.mark.parametrize("logratio", [1.0, -6.0])  # β(r − z0) above 0 (where the bonus backfires) and below
def test_the_weight_pushes_an_efficient_desirable_trajectory_harder_in_either_regime(logratio):
    config = LossConfig(beta=0.5, alpha1=2.0, alpha2=1.0, gamma_token=0.5, gamma_step=1.0)
    tokens, steps = [10.0, 40.0], [1.0, 6.0]  # the first is efficient on both counts
    weighted, _, _ = desirable_pushes("depo_weighted", config, logratio, tokens, steps)
    assert weighted[0] > weighted[1] > 0
    assert weighted[0] / weighted[1] == pytest.approx((10 / 40) ** -0.5 * (1 / 6) ** -1.0, rel=1e-9)
    depo, _, _ = desirable_pushes("depo", config, logratio, tokens, steps)
    assert (depo[0] > depo[1]) == (logratio < 0)  # the paper's bonus favours efficiency only below z0 − b


def test_zero_strength_is_kto_exactly():
    zero = LossConfig(beta=0.5, lambda_u=2.0, gamma_token=0.0, gamma_step=0.0)
    for logratio in (1.0, -6.0):
        weighted, weighted_loss, _ = desirable_pushes("depo_weighted", zero, logratio, [10.0, 40.0], [1.0, 6.0])
        kto, kto_loss, _ = desirable_pushes("kto", zero, logratio, [10.0, 40.0], [1.0, 6.0])
        assert weighted == kto and torch.equal(weighted_loss, kto_loss)


@pytest.mark.parametrize("gamma_token, gamma_step, separates_tokens, separates_steps",
                         [(1.0, 0.0, True, False), (0.0, 1.0, False, True), (1.0, 1.0, True, True)])
def test_each_knob_separates_only_its_own_kind_of_efficiency(gamma_token, gamma_step, separates_tokens, separates_steps):
    config = LossConfig(gamma_token=gamma_token, gamma_step=gamma_step)
    # pairs differing only in tokens per turn (0 vs 1), or only in turns (2 vs 3)
    pushes, _, _ = desirable_pushes("depo_weighted", config, 1.0, tokens=[10.0, 30.0, 20.0, 20.0], steps=[4.0, 4.0, 2.0, 8.0])
    assert (pushes[0] > pushes[1]) == separates_tokens and (pushes[0] == pytest.approx(pushes[1])) != separates_tokens
    assert (pushes[2] > pushes[3]) == separates_steps and (pushes[2] == pytest.approx(pushes[3])) != separates_steps


def test_the_undesirable_term_is_kto_s():
    config = LossConfig(beta=0.5, lambda_u=2.0, gamma_token=1.0, gamma_step=2.0)
    weighted, _, _ = desirable_pushes("depo_weighted", config, 1.0, [10.0, 40.0], [1.0, 6.0])
    kto, _, _ = desirable_pushes("kto", config, 1.0, [10.0, 40.0], [1.0, 6.0])
    assert weighted[-1] == kto[-1] < 0


def test_the_weights_average_one_over_the_desirable_trajectories_and_their_spread_is_logged():
    tokens = torch.tensor([10.0, 20.0, 35.0, 80.0, 15.0], dtype=torch.float64)
    steps = torch.tensor([1.0, 3.0, 2.0, 12.0, 7.0], dtype=torch.float64)
    desirable = torch.tensor([True, True, False, True, True])
    weights = efficiency_weights(tokens, steps, desirable, gamma_token=0.7, gamma_step=1.3)
    expected = tokens ** -0.7 * steps ** -1.3
    expected = expected / expected[desirable].mean()
    assert torch.allclose(weights[desirable], expected[desirable], rtol=1e-12)
    assert weights[desirable].mean().item() == pytest.approx(1.0) and weights[2] == 1.0
    assert efficiency_weights(tokens, steps, desirable, 50.0, 50.0)[desirable].mean().item() == pytest.approx(1.0)  # no overflow
    assert torch.equal(efficiency_weights(tokens, steps, torch.zeros(5, dtype=torch.bool), 1.0, 1.0), torch.ones(5))
    batch = PreferenceBatch(torch.full((5,), -3.0), torch.full((5,), -4.0), torch.zeros(5), torch.zeros(5), desirable, tokens, steps)
    _, metrics = get_loss("depo_weighted")(batch, LossConfig(gamma_token=0.7, gamma_step=1.3))
    assert metrics["weight_std"] == pytest.approx(weights[desirable].std(unbiased=False).item())
    assert "weight_std" not in get_loss("kto")(batch, LossConfig())[1]


def two_workers(compute, parts):
    """Run ``compute(part, reduce_sum)`` on two threads whose reduce_sum adds both threads'
    tensors, as torch.distributed's all-reduce does across workers."""
    import threading

    barrier, slots, results = threading.Barrier(2), [None, None], [None, None]

    def worker(rank):
        def reduce_sum(tensor):
            slots[rank] = tensor
            barrier.wait()
            total = slots[0] + slots[1]
            barrier.wait()  # both have read the slots before the next reduction writes them
            return total

        results[rank] = compute(parts[rank], reduce_sum)

    threads = [threading.Thread(target=worker, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_weights_are_normalised_over_the_global_batch_across_workers():
    """Workers with 3 and 2 samples: each worker's weights are those of the whole batch."""
    tokens = torch.tensor([10.0, 20.0, 35.0, 80.0, 15.0], dtype=torch.float64)
    steps = torch.tensor([1.0, 3.0, 2.0, 12.0, 7.0], dtype=torch.float64)
    desirable = torch.tensor([True, True, False, True, True])
    whole = efficiency_weights(tokens, steps, desirable, 0.7, 1.3)
    parts = [(tokens[:3], steps[:3], desirable[:3]), (tokens[3:], steps[3:], desirable[3:])]
    first, second = two_workers(lambda part, reduce_sum: efficiency_weights(*part, 0.7, 1.3, reduce_sum), parts)
    assert torch.allclose(torch.cat([first, second]), whole, rtol=1e-12)
    assert first[:2].mean() != 1.0  # a worker's own desirable weights need not average 1


def test_the_prepare_step_fills_in_the_weights_and_leaves_other_losses_alone():
    batch = make_batch([True, False, True], [-1.0, -2.0, -3.0], [-2.0] * 3, [-1.0] * 3, [-1.0] * 3, [5.0, 8.0, 20.0], [1.0, 2.0, 4.0])
    config = LossConfig(gamma_token=1.0, gamma_step=1.0)
    assert prepare_batch("kto", batch, config, lambda t: t) is batch
    prepared = prepare_batch("depo_weighted", batch, config, lambda t: t)
    assert torch.equal(prepared.efficiency_weights, efficiency_weights(batch.tokens_per_step, batch.steps, batch.desirable, 1.0, 1.0))
    # given the weights, the loss uses them as they are (a micro-batch cannot renormalise them)
    prepared.efficiency_weights = torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64)
    loss, _ = get_loss("depo_weighted")(prepared, config)
    z0 = 0.0
    expected = (4.0 * (1 - sigmoid(0.2 * (1.0 - z0))) + (1 - sigmoid(0.2 * (z0 - 0.0)))) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_every_built_in_loss_is_registered_by_the_module_the_registry_names():
    import importlib

    from depo_ray.losses.registry import BUILTIN_LOSSES, LOSSES

    for module in set(BUILTIN_LOSSES.values()):
        importlib.import_module(module)
    assert {name: LOSSES[name].__module__ for name in BUILTIN_LOSSES} == BUILTIN_LOSSES
    # and a loss those modules register is listed, or a config naming it would be refused
    assert {name for name, loss in LOSSES.items() if loss.__module__ in BUILTIN_LOSSES.values()} == set(BUILTIN_LOSSES)
