"""Labeling thresholds at their exact boundaries, the step cutoff, D_BC and the summary."""

from dataclasses import replace

import pytest

from depo_ray.labeling import (LabelConfig, invalid_turn_examples, label_expert_demos, label_of, label_records, select_bc,
                               summary_table)
from tests.test_records import make_record

CONFIG = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.1)


@pytest.mark.parametrize(
    "reward, expected",
    [
        (0.9, "desirable"),  # exactly κ0
        (0.8999, None),  # between κ1 and κ0: dropped
        (0.5, None),  # exactly κ1 is not undesirable
        (0.4999, "undesirable"),
        (0.1, "undesirable"),  # exactly κ2
        (0.0999, None),  # below κ2: dropped
        (1.0, "desirable"),
    ],
)
def test_reward_boundaries(reward, expected):
    assert label_of(reward, steps=3, config=CONFIG) == expected


def test_step_cutoff_is_strict():
    config = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0, step_cutoff=7)
    assert label_of(1.0, steps=6, config=config) == "desirable"
    assert label_of(1.0, steps=7, config=config) is None  # too long to be desirable, too good to be undesirable
    assert label_of(0.2, steps=30, config=config) == "undesirable"


def test_a_long_success_is_undesirable_when_asked_and_dropped_by_default():
    drop = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0, step_cutoff=7)
    keep = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0, step_cutoff=7, long_successes="undesirable")
    assert label_of(1.0, steps=7, config=drop) is None and label_of(1.0, steps=7, config=keep) == "undesirable"
    assert label_of(1.0, steps=6, config=keep) == "desirable" and label_of(0.7, steps=9, config=keep) is None


def test_a_relative_step_budget_compares_successes_of_the_same_task():
    """Task 0 is won in 3 and in 9 steps, task 1 only in 5: at twice the shortest, the 9-step
    win is long and the 5-step one is not, until the expert shows task 1 in 2 steps."""
    searched = [make_record(task_id=t, reward=r, steps=s, label=None) for t, r, s in
                (("0", 1.0, 3), ("0", 1.0, 9), ("0", 1.0, 6), ("0", 0.0, 12), ("1", 1.0, 5))]
    config = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0, relative_step_budget=2.0, long_successes="undesirable")
    assert [r.label for r in label_records(searched, config)] == ["desirable", "undesirable", "desirable", "undesirable",
                                                                  "desirable"]
    dropped = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0, relative_step_budget=2.0)
    assert [r.label for r in label_records(searched, dropped)][:2] == ["desirable", None]
    demo = make_record(task_id="1", reward=1.0, steps=2, label=None, source="expert")
    assert label_records(searched, config, known=[demo])[-1].label == "undesirable"
    assert [r.label for r in label_expert_demos([demo], config, "all", known=searched)] == ["desirable"]
    assert label_records(searched, LabelConfig())[1].label == "desirable"  # no budget: every win, as before


def test_thresholds_out_of_order_are_refused():
    with pytest.raises(ValueError, match="kappa2 <= kappa1 <= kappa0"):
        LabelConfig(kappa0=0.5, kappa1=0.6)
    with pytest.raises(ValueError, match="bc_fraction"):
        LabelConfig(bc_fraction=0.0)
    with pytest.raises(ValueError, match="relative_step_budget must be at least 1"):
        LabelConfig(relative_step_budget=0.5)
    with pytest.raises(ValueError, match="long_successes must be"):
        LabelConfig(long_successes="keep")


def _records():
    rewards = [0.95, 0.92, 0.91, 0.3, 0.0, 0.7]
    tokens = [30, 10, 20, 40, 50, 60]
    return label_records(
        [make_record(task_id=str(i), reward=r, total_tokens=t, label=None) for i, (r, t) in enumerate(zip(rewards, tokens))],
        LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0),
    )


def test_bc_subsets():
    records = _records()
    assert [r.label for r in records] == ["desirable"] * 3 + ["undesirable"] * 2 + [None]
    assert len(select_bc(records, LabelConfig())) == 3
    fewest = select_bc(records, LabelConfig(bc_selection="fewest_tokens", bc_fraction=0.5))
    assert [r.task_id for r in fewest] == ["1", "2"]
    random_pick = select_bc(records, LabelConfig(bc_selection="random", bc_fraction=0.34, seed=3))
    assert len(random_pick) == 1 and random_pick[0].label == "desirable"


def test_expert_demos_join_all_desirable_only_or_not_at_all():
    demos = [make_record(task_id=str(i), reward=r, label=None, source="expert") for i, r in enumerate([1.0, 0.0, 0.7])]
    config = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0)
    assert label_expert_demos(demos, config, "none") == []
    assert [(r.task_id, r.label) for r in label_expert_demos(demos, config, "desirable")] == [("0", "desirable")]
    assert [r.label for r in label_expert_demos(demos, config, "all")] == ["desirable", "undesirable", None]


def test_expert_successes_keep_a_long_demo_as_undesirable_beside_its_short_twin():
    """Task 0 shown in 2 steps and, with detours, in 4; task 1 failed: with a relative budget
    the 4-step success joins U, the failure stays out; without one both successes are D."""
    demos = [make_record(task_id=t, reward=r, steps=s, label=None, source="expert")
             for t, r, s in (("0", 1.0, 4), ("0", 1.0, 2), ("1", 0.0, 12))]
    budget = LabelConfig(kappa0=0.9, kappa1=0.5, kappa2=0.0, relative_step_budget=1.0, long_successes="undesirable")
    assert [(r.steps, r.label) for r in label_expert_demos(demos, budget, "successes")] == [(4, "undesirable"),
                                                                                            (2, "desirable")]
    assert [r.steps for r in label_expert_demos(demos, budget, "desirable")] == [2]
    dropped = replace(budget, long_successes="drop")
    assert [r.steps for r in label_expert_demos(demos, dropped, "successes")] == [2]
    assert [r.label for r in label_expert_demos(demos, LabelConfig(), "successes")] == ["desirable", "desirable"]


def chat(*answers: str) -> list[dict]:
    messages = [{"role": "system", "content": "Go."}, {"role": "user", "content": "start"}]
    for i, answer in enumerate(answers):
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": f"after {i}"}]
    return messages[:-1]


def test_each_distinct_invalid_turn_becomes_an_undesirable_example_through_that_turn():
    words = lambda messages: [len(m["content"].split()) for m in messages if m["role"] == "assistant"]  # noqa: E731
    failed = make_record(messages=chat("a", "b c", "d", "e"), steps=4, reward=0.0, success=False, label="undesirable",
                         source="mcts", provenance={"found": 0, "invalid_turns": [1, 3]})
    # the same tree: shares the first two turns (so the invalid turn 1), then succeeds
    sibling = replace(failed, messages=chat("a", "b c", "f"), steps=3, reward=1.0, success=True, label="desirable",
                      provenance={"found": 1, "invalid_turns": [1]})
    clean = replace(failed, messages=chat("a"), steps=1, provenance={"found": 2})
    examples = invalid_turn_examples([failed, sibling, clean], words)
    assert [e.messages for e in examples] == [chat("a", "b c"), chat("a", "b c", "d", "e")]
    assert [e.provenance["loss_turn"] for e in examples] == [1, 3] and [e.steps for e in examples] == [2, 4]
    assert [e.provenance["invalid_turns"] for e in examples] == [[1], [1, 3]]
    assert {e.label for e in examples} == {"undesirable"} and not any(e.success for e in examples)
    assert [(e.total_tokens, e.avg_tokens_per_step) for e in examples] == [(3, 1.5), (5, 1.25)]
    other_task = replace(sibling, task_id="7")
    assert len(invalid_turn_examples([failed, other_task], words)) == 3


def test_summary_table_counts_each_class():
    table = summary_table(_records())
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["class", "count"]
    assert lines[2].split()[:2] == ["desirable", "3"]
    assert lines[3].split()[:2] == ["undesirable", "2"]
    assert lines[4].split()[:2] == ["dropped", "1"]
    assert lines[2].split()[-1] == f"{(0.95 + 0.92 + 0.91) / 3:.3f}"
    turn_example = make_record(label="undesirable", reward=0.0, provenance={"loss_turn": 0})
    lines = summary_table([*_records(), turn_example]).splitlines()
    assert [line.split()[:2] for line in lines[3:6]] == [["undesirable", "2"], ["invalid", "turns"], ["dropped", "1"]]
    assert lines[4].split()[2] == "1"
