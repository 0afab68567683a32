"""Pure parts of the training data path: mismatched pairs and worker slices."""

import pytest

from depo_ray.train.data import kl_partners, local_slice, mismatched_messages, prompt_length, slices


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
