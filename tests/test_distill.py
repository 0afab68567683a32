"""Structured Agent Distillation's pure parts: the coarsened KL against the exact one, the
segment losses, the teacher's top-k in chunks, and the curriculum's orders."""

from dataclasses import replace

import pytest
import torch

from depo_ray.distill.curriculum import Complexity, CurriculumConfig, complexity_scores, epoch_order
from depo_ray.distill.teacher import student_logps_at, teacher_entropy, teacher_topk
from depo_ray.losses.registry import get_loss
from depo_ray.losses.config import LossConfig
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
        assert all([scores[i] for i in order] == sorted(scores) for order in
                   (epoch_order(scores, schedule, epoch, seed=1, bands=len(scores)) for epoch in range(3)))
    else:
        assert len({tuple(order) for order in orders}) > 1


def test_simple_to_complex_visits_the_bands_in_order_and_the_seed_orders_each_band():
    scores = [float(s) for s in range(40, 0, -1)]  # trajectory i has score 40 - i
    orders = {seed: epoch_order(scores, "simple_to_complex", epoch=0, seed=seed, bands=4) for seed in range(5)}
    for order in orders.values():
        bands = [sorted(scores[i] for i in order[start:start + 10]) for start in range(0, 40, 10)]
        assert bands == [[float(s) for s in range(lo, lo + 10)] for lo in (1, 11, 21, 31)]
    assert len({tuple(order) for order in orders.values()}) == 5


def test_a_bad_curriculum_or_segment_weight_names_the_key():
    with pytest.raises(ValueError, match="schedule"):
        CurriculumConfig(schedule="hard_first")
    with pytest.raises(ValueError, match="bands"):
        CurriculumConfig(schedule="simple_to_complex", bands=0)
    with pytest.raises(ValueError, match="action_weight"):
        LossConfig(name="sad", action_weight=-1)


def test_a_preference_stage_refuses_a_distillation_loss():
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.run import run_preference

    with pytest.raises(ValueError, match="needs a preference loss.*'sad'"):
        run_preference(TrainConfig(loss=LossConfig(name="sad"), teacher="t"), "m", "o", [])


# --- the training step (no Ray) ------------------------------------------------------------

def scored_part(teacher_dir, size: int, vocab: int, top_k: int, seed: int = 2) -> dict:
    """A local batch shaped like a packed distillation row, scored by the teacher."""
    from depo_ray.train.distill import ScoreWithTeacher

    generator = torch.Generator().manual_seed(seed)
    part = {"input_ids": [], "assistant_mask": [], "action_mask": [], "teacher_ids": [], "teacher_logps": []}
    scorer = ScoreWithTeacher(str(teacher_dir), top_k)
    for i in range(size):
        length = 10 + 6 * i
        ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
        mask = [0] * (length // 3) + [1] * (length - length // 3)
        action = [0] * (length - 3) + [1] * 3  # the last three assistant tokens: "Action: ..."
        teacher_ids, teacher_logps, _ = scorer.score(ids, mask)
        for key, value in zip(part, (ids, mask, action, teacher_ids, teacher_logps)):
            part[key].append(value)
    return part


def other_tiny_model(tiny_model_dir, tmp_path):
    """The tiny policy with perturbed weights: a teacher with the same tokenizer."""
    from depo_ray.models.loading import load_model, load_tokenizer

    model = load_model(str(tiny_model_dir))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model.save_pretrained(tmp_path / "teacher")
    load_tokenizer(str(tiny_model_dir)).save_pretrained(tmp_path / "teacher")
    return tmp_path / "teacher"


@pytest.mark.parametrize("loss", ["sad", "token_kd"])
def test_the_distill_step_gives_the_whole_batch_loss_and_gradient_with_micro_batches(tiny_model_dir, tiny_tokenizer,
                                                                                       tmp_path, loss):
    from depo_ray.models.loading import load_model
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.steps import distill_step

    teacher = other_tiny_model(tiny_model_dir, tmp_path)
    part = scored_part(teacher, 4, len(tiny_tokenizer), top_k=8)
    config = TrainConfig(lora=None, global_batch_size=4,
                         loss=LossConfig(name=loss, reasoning_weight=0.5), teacher=str(teacher), teacher_top_k=8)

    def run(micro):
        torch.manual_seed(0)
        model = load_model(str(tiny_model_dir))
        metrics, _ = distill_step(model, part, 0, get_loss(loss), replace(config, micro_batch_size=micro))
        return {n: p.grad.clone() for n, p in model.named_parameters()}, metrics

    whole_grads, whole = run(None)
    micro_grads, micro = run(1)
    assert micro == pytest.approx(whole, rel=1e-5, abs=1e-6)
    for name, grad in whole_grads.items():
        assert torch.allclose(micro_grads[name], grad, rtol=1e-4, atol=1e-7), name
    # the loss is the KL the step's pieces give, computed here sample by sample
    student = load_model(str(tiny_model_dir))
    kls = {"reasoning": [], "action": []}
    with torch.no_grad():
        for ids, mask, action, t_ids, t_logps in zip(*part.values()):
            logits = student(input_ids=torch.tensor([ids])).logits[0, :-1]
            where = [t for t in range(len(ids) - 1) if mask[t + 1]]
            kl = coarse_kl(torch.tensor(t_logps).view(-1, 8),
                           torch.log_softmax(logits[where], -1).gather(-1, torch.tensor(t_ids).view(-1, 8)))
            for position, value in zip(where, kl):
                kls["action" if action[position + 1] else "reasoning"].append(float(value))
    reasoning, action = (sum(v) / len(v) for v in kls.values())
    expected = 0.5 * reasoning + action if loss == "sad" else (sum(kls["reasoning"]) + sum(kls["action"])) / sum(map(len, kls.values()))
    assert whole["loss"] == pytest.approx(expected, rel=1e-4)


def test_a_student_that_is_its_teacher_has_zero_distill_loss(tiny_model_dir, tiny_tokenizer):
    from depo_ray.models.loading import load_model
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.steps import distill_step

    part = scored_part(tiny_model_dir, 3, len(tiny_tokenizer), top_k=4)
    config = TrainConfig(lora=None, global_batch_size=3,
                         loss=LossConfig(name="sad"), teacher=str(tiny_model_dir), teacher_top_k=4)
    metrics, _ = distill_step(load_model(str(tiny_model_dir)), part, 0, get_loss("sad"), config)
    assert abs(metrics["loss"]) < 1e-5 and metrics["reasoning_tokens"] > 0 and metrics["action_tokens"] == 9


def test_a_distillation_config_needs_a_teacher_and_only_it_takes_one():
    from depo_ray.train.config import TrainConfig

    with pytest.raises(ValueError, match="teacher"):
        TrainConfig(loss=LossConfig(name="sad"))
    with pytest.raises(ValueError, match="teacher"):
        TrainConfig(loss=LossConfig(name="sft"), teacher="t")
    with pytest.raises(ValueError, match="curriculum"):
        TrainConfig(loss=LossConfig(name="sft"), curriculum=CurriculumConfig(schedule="simple_to_complex"))


def test_distillation_refuses_a_teacher_with_another_tokenizer(tiny_model_dir, tmp_path):
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.models.tiny import build_tiny_policy, vocabulary_of
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.run import run_distill

    other = build_tiny_policy(vocabulary_of(["a few other words"]), tmp_path / "other")
    assert load_tokenizer(str(other)).get_vocab() != load_tokenizer(str(tiny_model_dir)).get_vocab()
    config = TrainConfig(loss=LossConfig(name="sad"), teacher=str(other), global_batch_size=2)
    with pytest.raises(ValueError, match="different tokenizers"):
        run_distill(config, str(tiny_model_dir), tmp_path / "out", [])
    assert not (tmp_path / "out").exists()


CHAT = [{"role": "system", "content": "you are an agent ."},
        {"role": "user", "content": "go to the red ball ."},
        {"role": "assistant", "content": "Thought: the ball is ahead . Action: go forward"},
        {"role": "user", "content": "you see a red ball ."},
        {"role": "assistant", "content": "Thought: it is here . Action: pick up red ball"}]


def test_segment_lengths_count_each_assistant_token_once(tiny_tokenizer):
    from depo_ray.distill.agreement import segment_lengths
    from depo_ray.tokens import chat_tokens

    tokens = chat_tokens(tiny_tokenizer, CHAT)
    lengths = segment_lengths(tokens)
    assert lengths.turns == 2
    assert lengths.reasoning_tokens + lengths.action_tokens == sum(tokens.assistant_mask)
    assert lengths.action_tokens == len(tiny_tokenizer("Action: go forward Action: pick up red ball")["input_ids"]) + 2


def test_a_turn_matches_only_when_every_action_token_is_the_greedy_one(tiny_tokenizer):
    from depo_ray.distill.agreement import action_matches
    from depo_ray.tokens import chat_tokens

    tokens = chat_tokens(tiny_tokenizer, CHAT)
    perfect = [-1, *tokens.input_ids[1:]]
    assert action_matches(tokens, perfect) == [True, True]
    second_turn_action = max(t for t, (turn, a) in enumerate(zip(tokens.turn_index, tokens.action_mask)) if turn == 1 and a)
    wrong = list(perfect)
    wrong[second_turn_action] = -7
    assert action_matches(tokens, wrong) == [True, False]
    first_turn_reasoning = min(t for t, (turn, r) in enumerate(zip(tokens.turn_index, tokens.reasoning_mask)) if turn == 0 and r)
    wrong = list(perfect)
    wrong[first_turn_reasoning] = -7  # reasoning differs, the action is still the teacher's
    assert action_matches(tokens, wrong) == [True, True]
    with pytest.raises(ValueError, match="greedy tokens"):
        action_matches(tokens, perfect[:-1])


def test_a_model_trained_to_write_the_chat_matches_its_actions_and_a_random_one_does_not(tiny_model_dir, tiny_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from depo_ray.distill.agreement import action_matches_on
    from depo_ray.tokens import chat_tokens

    assert action_matches_on(str(tiny_model_dir), [CHAT]) == [False, False]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.tensor([chat_tokens(tiny_tokenizer, CHAT).input_ids])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):  # memorise the one chat
        optimizer.zero_grad()
        model(ids, labels=ids).loss.backward()
        optimizer.step()
    model.save_pretrained(tmp_path / "memorised")
    tiny_tokenizer.save_pretrained(tmp_path / "memorised")
    assert action_matches_on(str(tmp_path / "memorised"), [CHAT, CHAT]) == [True] * 4


def test_the_study_report_pairs_each_comparison_and_names_what_it_cannot_tell(tmp_path):
    from depo_ray.config import ConfigError, from_dict
    from benchmarks.distillation_study import DistillStudyConfig, StudentOutcomes, write_report
    from depo_ray.evaluate import TaskResult

    arms = [{"name": "sft", "loss": {"name": "sft"}}, {"name": "sad", "loss": {"name": "sad"}}]
    config = from_dict(DistillStudyConfig, {"arms": arms, "seeds": [0, 1],
                                            "comparisons": [{"baseline": "sft", "method": "sad"}]})
    outcomes = {}
    for arm, solved, reasoning, match in (("sft", 10, 12.0, 0), ("sad", 40, 8.0, 1)):
        outcomes[arm] = StudentOutcomes()
        for seed in (0, 1):
            tasks = [TaskResult(t, t < solved, float(t < solved), 5, 50, 0, 1.0, 1.0) for t in range(50)]
            summary = {"succ": solved / 50, "t_all": 50.0, "s_all": 5.0, "tokens_per_turn": 10.0}
            outcomes[arm].add(seed, tasks, summary, [reasoning] * 50, [bool(match)] * 30)
    text = write_report(config, tmp_path, {"succ": 0.9, "t_all": 40.0, "s_all": 4.0, "tokens_per_turn": 10.0},
                        outcomes).read_text()
    assert "| sad | 0.800 | 50.0 | 5.00 | 10.0 | 8.0 | 1.000 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| SAD − SFT"))
    assert "+0.600" in row and "better" in row and "T@All" not in row  # Succ up; tokens the same
    assert "| sad - sft | -4.000 [-4.000, -4.000] better | +1.000 [+1.000, +1.000] better |" in text
    with pytest.raises(ConfigError, match="'kd' is not an arm"):
        from_dict(DistillStudyConfig, {"arms": arms, "comparisons": [{"baseline": "kd", "method": "sad"}]})


def test_a_student_cut_from_its_teacher_keeps_the_chosen_layers_and_the_tokenizer(tiny_model_dir, tiny_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from depo_ray.distill.student import student_from_teacher
    from depo_ray.models.loading import load_tokenizer

    ids = torch.tensor([tiny_tokenizer("go to the red ball")["input_ids"]])
    teacher = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    whole = AutoModelForCausalLM.from_pretrained(student_from_teacher(tiny_model_dir, tmp_path / "all", (0, 1)))
    assert torch.allclose(whole(ids).logits, teacher(ids).logits, atol=1e-5)
    cut = AutoModelForCausalLM.from_pretrained(student_from_teacher(tiny_model_dir, tmp_path / "one", (1,)))
    assert cut.config.num_hidden_layers == 1
    assert torch.equal(cut.model.layers[0].mlp.up_proj.weight, teacher.model.layers[1].mlp.up_proj.weight)
    assert load_tokenizer(str(tmp_path / "one")).get_vocab() == tiny_tokenizer.get_vocab()
    with pytest.raises(ValueError, match="below the teacher's 2 layers"):
        student_from_teacher(tiny_model_dir, tmp_path / "bad", (2,))
