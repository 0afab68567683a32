"""KTO / DEPO losses on hand-computed examples, and against TRL's KTOTrainer."""

import json
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from trl import KTOTrainer

from depo_ray.losses import LossConfig, PreferenceBatch, get_loss, kl_reference_point, register_loss
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
