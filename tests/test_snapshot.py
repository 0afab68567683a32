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


def test_restore_after_a_different_branch():
    responses = expert_responses()
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    env.reset(options={"task_id": TASK})
    env.step(responses[0])
    snapshot = env.snapshot()
    original = env.step(responses[1])
    env.restore(snapshot)
    env.step("Action: turn left")
    env.step("Action: turn left")
    env.restore(snapshot)
    assert env.step(responses[1]) == original


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
