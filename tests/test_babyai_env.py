"""The BabyAI text environment on hand-built states with hand-checked expectations."""

import pytest
from minigrid.core.world_object import Ball, Door, Key

from environments.babyai import BabyAIConfig, BabyAITextEnv, LEVELS, task_level_and_seed
from environments.babyai.levels import HARNESS_TEST_TASKS, tasks_for_levels

UP = 3  # minigrid direction index for "facing -y"


def hand_built_env(action_mode="high_level", max_turns=20) -> BabyAITextEnv:
    """An 8x8 room (walls on its border) with the agent at (3, 5) facing up, a red ball at
    (3, 2), a blue key at (5, 4) and a locked yellow door in the left wall at (0, 5)."""
    env = BabyAITextEnv(BabyAIConfig(action_mode=action_mode, max_turns=max_turns))
    env.reset(options={"level": "BabyAI-GoToRedBallNoDists-v0"}, seed=0)
    world = env.minigrid
    for x in range(1, 7):
        for y in range(1, 7):
            world.grid.set(x, y, None)
    world.grid.set(3, 2, Ball("red"))
    world.grid.set(5, 4, Key("blue"))
    world.grid.set(0, 5, Door("yellow", is_locked=True))
    world.agent_pos, world.agent_dir = (3, 5), UP
    world.instrs.reset_verifier(world)  # the mission now refers to our red ball
    env.reread_scene()  # after editing the world
    return env


def test_render_of_a_known_state():
    env = hand_built_env()
    assert env.render() == (
        "Walls: 5 steps ahead.\n"
        "You see:\n"
        "- yellow door 1 (locked): 3 steps left\n"
        "- blue key 1: 1 step ahead, 2 steps right\n"
        "- red ball 1: 3 steps ahead\n"
        "You carry nothing."
    )


def test_available_actions_and_their_expansions():
    actions = hand_built_env().available_actions
    left, right, forward, pickup = 0, 1, 2, 3
    assert actions["go to red ball 1"] == [forward, forward]
    assert actions["go to blue key 1"] == [forward, right, forward]
    assert actions["pick up blue key 1"] == [forward, right, forward, pickup]
    assert actions["go to yellow door 1"] == [left, forward, forward]
    # locked, and we carry no yellow key: it cannot be opened
    assert "toggle and go through yellow door 1" not in actions
    assert "drop" not in actions and "pick up" not in actions and "toggle" not in actions
    assert list(actions)[:3] == ["turn left", "turn right", "move forward"]


def test_primitive_mode_offers_only_primitives():
    actions = hand_built_env(action_mode="primitive").available_actions
    assert set(actions) == {"turn left", "turn right", "move forward"}


def test_high_level_step_reaches_goal_with_minigrids_reward():
    env = hand_built_env()
    text, reward, terminated, truncated, info = env.step("Thought: the ball is ahead.\nAction: go to red ball 1")
    assert terminated and not truncated and info["success"]
    assert info["step_count"] == 2 and info["primitive_steps"] == 2 and info["turn"] == 1
    assert reward == pytest.approx(1 - 0.9 * 2 / info["max_steps"])
    assert text == "Mission complete."


def test_pick_up_is_reported_and_a_key_opens_its_door():
    env = hand_built_env()
    env.step("Action: pick up blue key 1")
    assert "You carry a blue key." in env.render()
    env = hand_built_env()
    env.minigrid.carrying = Key("yellow")
    env.reread_scene()
    left, forward, toggle = 0, 2, 5
    assert env.available_actions["toggle and go through yellow door 1"] == [left, forward, forward, toggle, forward]


@pytest.mark.parametrize(
    "response, feedback",
    [
        ("Thought: no idea", "No action found"),
        ("Action: fly to the moon", "'fly to the moon' is not an available action"),
        ("Action: go to green ball 1", "'go to green ball 1' is not an available action"),
        ("Action:", "'(empty)' is not an available action"),
    ],
)
def test_bad_actions_cost_a_turn_but_change_nothing(response, feedback):
    env = hand_built_env()
    before = env.render()
    text, reward, terminated, truncated, info = env.step(response)
    assert text.startswith(feedback)
    assert before in text  # the state is shown again, unchanged
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["turn"] == 1 and info["step_count"] == 0 and not info["valid"]


@pytest.mark.parametrize("response", ["Action: Go to the red ball.", "Action: go to red ball", "Action: pickup blue key 1"])
def test_lenient_spellings_resolve(response):
    env = hand_built_env()
    _, _, _, _, info = env.step(response)
    assert info["valid"], info


def test_turn_limit_truncates():
    env = hand_built_env(max_turns=2)
    env.step("Action: turn left")
    text, _, terminated, truncated, info = env.step("Action: turn left")
    assert truncated and not terminated and info["turn"] == 2
    with pytest.raises(RuntimeError):
        env.step("Action: turn left")


def test_sampling_rejected_noise_stays_out_of_stdout(capsys):
    env = BabyAITextEnv()
    for task_id in range(6, 400, 40):  # GoToImpUnlock rejects samples often
        env.reset(options={"task_id": task_id})
    assert "Sampling rejected" not in capsys.readouterr().out


def test_task_indexing_matches_the_harness():
    assert len(LEVELS) == 40 and len(set(LEVELS)) == 40
    assert task_level_and_seed(0) == ("BabyAI-GoToRedBallGrey-v0", 0)
    assert task_level_and_seed(1840) == ("BabyAI-GoToRedBallGrey-v0", 46)
    assert task_level_and_seed(83) == ("BabyAI-GoToObjS6-v1", 2)
    assert task_level_and_seed(12875) == ("BabyAI-SynthLoc-v0", 321)
    assert len(HARNESS_TEST_TASKS) == 90 == len(set(HARNESS_TEST_TASKS))
    assert tasks_for_levels(["BabyAI-Open-v0"], range(2)) == [11, 51]
    with pytest.raises(ValueError, match="unknown BabyAI levels"):
        tasks_for_levels(["BabyAI-Nope-v0"], range(1))


def test_reset_is_deterministic_per_task():
    a, b = BabyAITextEnv(), BabyAITextEnv()
    assert a.reset(options={"task_id": 1234})[0] == b.reset(options={"task_id": 1234})[0]
    assert a.reset(options={"task_id": 1234})[0] != a.reset(options={"task_id": 1274})[0]


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="action_mode"):
        BabyAIConfig(action_mode="teleport")
    with pytest.raises(ValueError, match="max_turns"):
        BabyAIConfig(max_turns=0)


def test_the_large_test_set_has_the_harness_level_mix_and_no_training_or_harness_task():
    from collections import Counter

    import yaml

    from depo_ray.env_setup import EnvConfig, select_tasks
    from depo_ray.evaluate.config import EvalConfig, evaluation_tasks
    from environments.babyai import HARNESS_TEST_TASKS, LARGE_TEST_TASKS, LEVELS

    levels = lambda tasks: Counter(LEVELS[t % len(LEVELS)] for t in tasks)  # noqa: E731
    assert len(LARGE_TEST_TASKS) == len(set(LARGE_TEST_TASKS)) == 450
    assert set(levels(LARGE_TEST_TASKS)) == set(levels(HARNESS_TEST_TASKS))
    assert set(levels(LARGE_TEST_TASKS).values()) == {25}
    assert not set(LARGE_TEST_TASKS) & set(HARNESS_TEST_TASKS)
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "configs").glob("*pipeline.yaml")):
        config = yaml.safe_load(path.read_text())
        for stage in ("bootstrap", "generate"):
            section = config.get(stage) or {}
            trained = select_tasks(tuple(section.get("tasks", (0, 480))), section.get("task_ids"), ())
            assert not set(trained) & set(LARGE_TEST_TASKS), (path.name, stage)
    assert evaluation_tasks(EvalConfig(task_set="large"), EnvConfig()) == list(LARGE_TEST_TASKS)
    assert evaluation_tasks(EvalConfig(), EnvConfig()) == sorted(HARNESS_TEST_TASKS)
    with pytest.raises(ValueError, match="no 'large' task set"):
        evaluation_tasks(EvalConfig(task_set="large"), EnvConfig(name="webshop"))


def test_the_validation_set_is_held_out_from_training_and_disjoint_from_both_test_sets():
    from collections import Counter

    from depo_ray.env_setup import EnvConfig, make_env, select_tasks
    from depo_ray.evaluate.config import EvalConfig, evaluation_tasks
    from environments.babyai import HARNESS_TEST_TASKS, LARGE_TEST_TASKS, LEVELS, VALIDATION_TASKS

    levels = Counter(LEVELS[t % len(LEVELS)] for t in VALIDATION_TASKS)
    assert len(VALIDATION_TASKS) == len(set(VALIDATION_TASKS)) == 90
    assert set(levels) == {LEVELS[t % len(LEVELS)] for t in HARNESS_TEST_TASKS} and set(levels.values()) == {5}
    assert not set(VALIDATION_TASKS) & (set(HARNESS_TEST_TASKS) | set(LARGE_TEST_TASKS))
    held_out = make_env(EnvConfig()).held_out
    # a training range that reaches the validation seeds leaves their tasks out
    assert not set(select_tasks((0, max(VALIDATION_TASKS) + 1), None, held_out)) & set(VALIDATION_TASKS)
    assert evaluation_tasks(EvalConfig(task_set="validation"), EnvConfig()) == list(VALIDATION_TASKS)
    with pytest.raises(ValueError, match="task_set: expected one of"):
        EvalConfig(task_set="dev")


def test_steps_never_render_minigrids_image(monkeypatch):
    """minigrid renders the agent's egocentric image after every primitive step; the text env
    reads the scene from the grid and skips that work, in snapshots restored too."""
    from minigrid.core.grid import Grid

    monkeypatch.setattr(Grid, "encode", lambda *a, **k: pytest.fail("minigrid rendered its image"))
    env = BabyAITextEnv()
    env.reset(options={"task_id": 27})
    snapshot = env.snapshot()
    env.step("Action: turn left")
    env.restore(snapshot)
    _, _, _, _, info = env.step("Action: move forward")
    assert info["valid"] and info["primitive_steps"] == 1
