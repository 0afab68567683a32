"""Branching: snapshot/restore and replay give identical observations and rewards."""

import pytest

from environments.babyai import BabyAIConfig, BabyAITextEnv
from environments.babyai.expert import BabyAIExpert, ExpertConfig
from environments.episode import replay, responses_of

TASK = 27  # BlockedUnlockPickup: doors, keys and a blocker, ~24 turns


def expert_responses():
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    demo = BabyAIExpert(env, ExpertConfig(detour_share=0.0)).demonstrate(TASK)
    assert demo.episode.success
    return responses_of(demo.episode.messages)


def test_restore_continues_exactly_like_the_original():
    responses = expert_responses()
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    env.reset(options={"task_id": TASK})
    half = len(responses) // 2
    for response in responses[:half]:
        env.step(response)
    snapshot = env.snapshot()
    first = [env.step(r) for r in responses[half:]]
    for _ in range(2):  # a snapshot can be restored more than once
        env.restore(snapshot)
        assert env.turn == half
        assert [env.step(r) for r in responses[half:]] == first
    assert first[-1][4]["success"]


@pytest.mark.parametrize("detour", ["another branch", "another task"])
def test_restore_after_the_env_went_elsewhere(detour):
    """Another task too: a search worker keeps many trees in flight on one env, so it restores
    one task's snapshots after resets to, and snapshots of, others."""
    responses = expert_responses()
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    env.reset(options={"task_id": TASK})
    env.step(responses[0])
    snapshot = env.snapshot()
    original = env.step(responses[1])
    env.restore(snapshot)
    if detour == "another branch":
        env.step("Action: turn left")
        env.step("Action: turn left")
    else:
        env.reset(options={"task_id": 3})
        other = env.snapshot()
    env.restore(snapshot)
    assert env.task.task_id == TASK and env.step(responses[1]) == original
    if detour == "another task":
        env.restore(other)
        assert env.task.task_id == 3 and env.turn == 0


def test_replay_from_seed_and_actions_is_identical():
    responses = expert_responses()
    a = replay(BabyAITextEnv(BabyAIConfig(max_turns=None)), {"task_id": TASK}, responses)
    b = replay(BabyAITextEnv(BabyAIConfig(max_turns=None)), {"task_id": TASK}, responses)
    assert a == b and a[-1][4]["success"]


def test_restore_offers_the_snapshots_actions_without_reading_the_scene_again(monkeypatch):
    import environments.babyai.env as env_module

    responses = expert_responses()
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    env.reset(options={"task_id": TASK})
    env.step(responses[0])
    snapshot, offered = env.snapshot(), env.available_actions
    env.step(responses[1])
    assert env.available_actions != offered  # the next state offers other actions
    readings = []
    monkeypatch.setattr(env_module, "read_scene", lambda *a: readings.append(a) or pytest.fail("scene read"))
    env.restore(snapshot)
    assert env.available_actions == offered and readings == []


def test_steps_after_a_restore_leave_the_snapshot_as_it_was():
    responses = expert_responses()
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    env.reset(options={"task_id": TASK})
    snapshot = env.snapshot()
    env.restore(snapshot)
    for response in responses:  # doors open, keys and boxes move
        env.step(response)
    env.restore(snapshot)
    assert env.turn == 0 and env.minigrid.step_count == 0 and env.minigrid.carrying is None
    fresh = BabyAITextEnv(BabyAIConfig(max_turns=None))
    fresh.reset(options={"task_id": TASK})
    assert [env.step(r) for r in responses] == [fresh.step(r) for r in responses]
