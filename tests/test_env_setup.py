"""The pipeline's view of the environments (depo_ray.env_setup): the typed env section, task
selection and building an environment from a config."""

import pytest

from depo_ray.env_setup import EnvConfig, make_env, select_tasks


def test_task_selection_keeps_order_and_drops_duplicates_and_held_out_ids():
    assert select_tasks((0, 6), None, held_out=(2, 9)) == [0, 1, 3, 4, 5]
    assert select_tasks((0, 6), (7, 3, 7, 2), held_out=(2,)) == [7, 3]


def test_babyai_options_are_checked_when_the_config_is_built():
    with pytest.raises(ValueError, match=r"env.options.max_turn: unknown key"):
        EnvConfig(options={"max_turn": 3})
    with pytest.raises(ValueError, match="unknown environment 'alfworld'"):
        EnvConfig(name="alfworld")


def test_babyai_task_environment_describes_its_tasks():
    task_env = make_env(EnvConfig(options={"max_turns": 4}))
    assert task_env.describe(41) == {"seed": 1, "provenance": {"level": "BabyAI-GoToRedBall-v0", "action_mode": "high_level"}}
    assert task_env.env.config.max_turns == 4 and 1840 in task_env.test_tasks
    observation, _ = task_env.env.reset(options=task_env.reset_options(41))
    assert observation.startswith("Mission:")
