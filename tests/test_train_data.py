"""Pure parts of the training data path: mismatched pairs, worker slices, turn examples' masks."""

import json

import pyarrow as pa
import pytest

from depo_ray.tokens import chat_tokens
from depo_ray.train.data import kl_partners, local_slice, mismatched_messages, prompt_length, slices, tokenize
from tests.test_labeling import chat


@pytest.mark.parametrize("size", [2, 3, 4, 5, 8])
def test_pairs_are_a_cyclic_shift_and_never_self(size):
    partners = kl_partners(size)
    assert partners == [(j - 1) % size for j in range(size)]
    assert all(partner != j for j, partner in enumerate(partners))
    assert sorted(partners) == list(range(size))  # every completion is used exactly once


def test_batch_of_one_has_no_mismatched_pair():
    with pytest.raises(ValueError, match="at least 2"):
        kl_partners(1)


def test_mismatched_chat_joins_one_prompt_with_another_completion():
    a = [{"role": "system", "content": "s"}, {"role": "user", "content": "task A"},
         {"role": "assistant", "content": "act A"}, {"role": "user", "content": "obs A"}, {"role": "assistant", "content": "act A2"}]
    b = [{"role": "system", "content": "s"}, {"role": "user", "content": "task B"}, {"role": "assistant", "content": "act B"}]
    assert prompt_length(a) == 2
    assert [m["content"] for m in mismatched_messages(b, a)] == ["s", "task B", "act A", "obs A", "act A2"]


def test_each_worker_takes_its_own_slice_of_a_packed_batch():
    row = {"input_ids": [[1], [2], [3], [4]], "desirable": [True, False, True, False]}
    assert slices(4, 2) == [range(0, 2), range(2, 4)]
    assert local_slice(row, 1, 2) == {"input_ids": [[3], [4]], "desirable": [True, False]}
    assert local_slice(row, 0, 1) == row


def test_a_turn_example_keeps_the_loss_on_its_turn_and_the_rest_as_context(tiny_model_dir, tiny_tokenizer):
    messages = chat("Thought: on.\nAction: go forward", "Thought: hm.\nAction: open door", "Action: go forward")
    rows = [{"messages": messages, "provenance": json.dumps(provenance)}
            for provenance in ({}, {"loss_turn": 1}, {"found": 3, "invalid_turns": [1]})]
    whole, example, untouched = tokenize(pa.Table.from_pylist(rows), str(tiny_model_dir)).to_pylist()
    turns = chat_tokens(tiny_tokenizer, messages).turn_index
    assert example["input_ids"] == whole["input_ids"] and untouched["assistant_mask"] == whole["assistant_mask"]
    assert example["assistant_mask"] == [int(t == 1) for t in turns] and sum(example["assistant_mask"]) > 2
    assert 0 < sum(example["action_mask"]) < sum(example["assistant_mask"])
    assert all(a <= m for a, m in zip(example["action_mask"], example["assistant_mask"]))
    with pytest.raises(ValueError, match="no assistant turn 3"):
        tokenize(pa.Table.from_pylist([{"messages": messages, "provenance": json.dumps({"loss_turn": 3})}]),
                 str(tiny_model_dir))
