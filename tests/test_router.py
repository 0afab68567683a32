"""Replica choice of the policy router (pure) and config checks."""

import pytest

from depo_ray.serving.router import choose_replica
from depo_ray.serving.config import ServingConfig


def test_the_ready_replica_with_fewest_leases_is_lent():
    assert choose_replica([3, 1, 2], [True, True, True]) == 1
    assert choose_replica([3, 1, 2], [True, False, True]) == 2
    assert choose_replica([2, 2, 2], [True, True, True]) == 0  # lowest index on ties


def test_no_ready_replica_means_wait():
    assert choose_replica([0, 0], [False, False]) is None


@pytest.mark.parametrize("bad", [{"replicas": 0}, {"max_attempts": 0}, {"request_timeout_s": 0}, {"gpus_per_replica": -1}])
def test_bad_serving_settings_are_refused(bad):
    with pytest.raises(ValueError, match="serving"):
        ServingConfig(**bad)
