"""Structured Agent Distillation's pure parts: the coarsened KL against the exact one, the
segment losses, the teacher's top-k in chunks, and the curriculum's orders."""

import pytest
import torch

from depo_ray.distill.curriculum import Complexity, CurriculumConfig, complexity_scores, epoch_order
from depo_ray.distill.teacher import student_logps_at, teacher_entropy, teacher_topk
from depo_ray.losses import LossConfig, get_loss
from depo_ray.losses.distill import DistillBatch, coarse_kl


def exact_kl(teacher_logits, student_logits):
    t, s = torch.log_softmax(teacher_logits, -1), torch.log_softmax(student_logits, -1)
    return (t.exp() * (t - s)).sum(-1)


@pytest.fixture
def logits():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 5, 40, generator=generator) * 3, torch.randn(2, 5, 40, generator=generator) * 3


def test_with_the_whole_vocabulary_the_coarse_kl_is_the_exact_kl(logits):
    teacher, student = logits
    ids, teacher_logps = teacher_topk(teacher, k=40)
    assert torch.allclose(coarse_kl(teacher_logps, student_logps_at(student, ids)), exact_kl(teacher, student), atol=1e-4)


@pytest.mark.parametrize("k", [1, 4, 16])
def test_top_k_kl_is_a_lower_bound_that_tightens_with_k(logits, k):
    teacher, student = logits
    ids, teacher_logps = teacher_topk(teacher, k)
    coarse = coarse_kl(teacher_logps, student_logps_at(student, ids))
    assert (coarse >= -1e-5).all() and (coarse <= exact_kl(teacher, student) + 1e-4).all()
    if k < 16:
        wider_ids, wider = teacher_topk(teacher, 16)
        assert (coarse <= coarse_kl(wider, student_logps_at(student, wider_ids)) + 1e-4).all()


def test_chunked_top_k_equals_one_pass(logits):
    teacher, _ = logits
    assert all(torch.equal(a, b) for a, b in zip(teacher_topk(teacher, 8, chunk=2), teacher_topk(teacher, 8, chunk=512)))


def distill_batch(teacher, student, k=8, reasoning=(1, 1, 0, 0, 0), action=(0, 0, 1, 1, 0)):
    ids, teacher_logps = teacher_topk(teacher, k)
    shape = teacher.shape[:2]
    return DistillBatch(student_logps_at(student, ids), teacher_logps,
                        torch.tensor(reasoning).expand(shape), torch.tensor(action).expand(shape))


@pytest.mark.parametrize("name", ["sad", "token_kd"])
def test_a_student_equal_to_its_teacher_has_zero_loss(logits, name):
    teacher, _ = logits
    loss, _ = get_loss(name)(distill_batch(teacher, teacher.clone()), LossConfig(name=name))
    assert abs(float(loss)) < 1e-5


def test_a_segment_weight_of_zero_removes_that_segments_gradient(logits):
    teacher, student = logits
    student = student.clone().requires_grad_(True)
    loss, metrics = get_loss("sad")(distill_batch(teacher, student), LossConfig(name="sad", reasoning_weight=0.0))
    loss.backward()
    gradient = student.grad.abs().sum(-1)  # (B, L)
    assert (gradient[:, :2] == 0).all() and (gradient[:, 2:4] > 0).all() and (gradient[:, 4] == 0).all()
    assert metrics["kl_reasoning"] > 0 and metrics["reasoning_tokens"] == 4 and metrics["action_tokens"] == 4


def test_sad_with_equal_weights_is_the_sum_of_the_segment_means_and_token_kd_the_mean_over_both(logits):
    teacher, student = logits
    batch = distill_batch(teacher, student, reasoning=(1, 0, 0, 0, 0), action=(0, 1, 1, 1, 0))
    kl = coarse_kl(batch.teacher_logps, batch.student_logps)
    sad, _ = get_loss("sad")(batch, LossConfig(name="sad"))
    kd, _ = get_loss("token_kd")(batch, LossConfig(name="token_kd"))
    assert torch.isclose(sad, kl[:, 0].mean() + kl[:, 1:4].mean(), atol=1e-5)
    assert torch.isclose(kd, kl[:, :4].mean(), atol=1e-5)


def test_teacher_entropy_is_high_for_a_flat_teacher_and_low_for_a_sure_one():
    flat, sure = torch.zeros(1, 3, 40), torch.zeros(1, 3, 40)
    sure[..., 7] = 30.0
    mask = torch.ones(1, 3)
    assert teacher_entropy(teacher_topk(flat, 40)[1], mask) == pytest.approx(torch.log(torch.tensor(40.0)).item(), abs=1e-4)
    assert teacher_entropy(teacher_topk(sure, 4)[1], mask) < 1e-6


def test_complexity_weighs_each_part_relative_to_its_mean():
    parts = [Complexity(10, 2, 0.5), Complexity(30, 6, 1.5)]
    assert complexity_scores(parts, CurriculumConfig()) == pytest.approx([1.5, 4.5])
    only_entropy = CurriculumConfig(reasoning_weight=0, action_weight=0)
    assert complexity_scores(parts, only_entropy) == pytest.approx([0.5, 1.5])


@pytest.mark.parametrize("schedule", ["shuffle", "simple_to_complex"])
def test_every_epoch_visits_each_trajectory_exactly_once(schedule):
    scores = [3.0, 1.0, 2.0, 1.0, 5.0, 0.5]
    orders = [epoch_order(scores, schedule, epoch, seed=1) for epoch in range(3)]
    assert all(sorted(order) == list(range(6)) for order in orders)
    if schedule == "simple_to_complex":
        assert all([scores[i] for i in order] == sorted(scores) for order in orders)
    else:
        assert len({tuple(order) for order in orders}) > 1


def test_a_bad_curriculum_or_segment_weight_names_the_key():
    with pytest.raises(ValueError, match="schedule"):
        CurriculumConfig(schedule="hard_first")
    with pytest.raises(ValueError, match="action_weight"):
        LossConfig(name="sad", action_weight=-1)


def test_a_preference_stage_refuses_a_distillation_loss():
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.run import run_preference

    with pytest.raises(ValueError, match="needs a preference loss.*'sad'"):
        run_preference(TrainConfig(model="m", output_dir="o", loss=LossConfig(name="sad")), [])
