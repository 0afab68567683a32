"""The BabyAI bot expert, through the text interface."""

import gymnasium as gym
import pytest
from minigrid.utils.baby_ai_bot import BabyAIBot

from depo_ray.bootstrap.warm_start import turns_over_budget
from depo_ray.records import record_from_episode
from depo_ray.tokens import tokens_per_turn
from environments.babyai import BabyAIConfig, BabyAITextEnv, LEVELS, task_level_and_seed
from environments.babyai.expert import BabyAIExpert, ExpertConfig, ExpertFailure
from environments.babyai.levels import BOT_UNSOLVABLE
from environments.episode import replay, responses_of

SUPPORTED = [level for level in LEVELS if level not in BOT_UNSOLVABLE]
SAMPLE = [seed * 40 + LEVELS.index(level) for seed in (0, 1) for level in SUPPORTED]
NO_DETOURS = ExpertConfig(detour_share=0.0)


def minigrid_reward(info) -> float:
    return 1 - 0.9 * info["step_count"] / info["max_steps"] if info["success"] else 0.0


def play_sample(action_mode: str, config: ExpertConfig):
    env = BabyAITextEnv(BabyAIConfig(action_mode=action_mode, max_turns=None))
    expert = BabyAIExpert(env, config, seed=0)
    results = {}
    for task_id in SAMPLE:
        try:
            results[task_id] = expert.demonstrate(task_id)
        except ExpertFailure:
            results[task_id] = None
    return results


@pytest.fixture(scope="module")
def high_level_demos():
    return play_sample("high_level", ExpertConfig(detour_share=0.3))


def test_expert_solves_at_least_95_percent_of_supported_tasks(high_level_demos):
    solved = [t for t, demo in high_level_demos.items() if demo and demo.episode.success]
    assert len(solved) / len(SAMPLE) >= 0.95, sorted(set(SAMPLE) - set(solved))


def test_rewards_are_minigrids_and_every_turn_is_valid(high_level_demos):
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    for task_id, demo in high_level_demos.items():
        if demo is None:
            continue
        steps = replay(env, {"task_id": task_id}, responses_of(demo.episode.messages))
        final_info = steps[-1][4]
        assert all(info["valid"] for *_, info in steps), task_id
        assert demo.episode.reward == pytest.approx(minigrid_reward(final_info)), task_id
        assert len(steps) - 1 == demo.episode.turns


def test_high_level_actions_shorten_episodes(high_level_demos):
    compressed = [d for d in high_level_demos.values() if d and d.episode.turns < d.episode.final_info["step_count"]]
    assert len(compressed) >= len(SAMPLE) // 2


@pytest.mark.parametrize("task_id", [5, 11, 16, 24, 47, 70])
def test_primitive_expert_is_exactly_the_bot(task_id):
    level, seed = task_level_and_seed(task_id)
    world = gym.make(level).unwrapped
    world.reset(seed=seed)
    bot = BabyAIBot(world)
    action, bot_steps = bot.replan(), 0
    while True:
        _, bot_reward, terminated, truncated, _ = world.step(action)
        bot_steps += 1
        if terminated or truncated:
            break
        action = bot.replan(action)

    env = BabyAITextEnv(BabyAIConfig(action_mode="primitive", max_turns=None))
    demo = BabyAIExpert(env, NO_DETOURS).demonstrate(task_id)
    assert demo.episode.turns == bot_steps == demo.episode.final_info["step_count"]
    assert demo.episode.reward == pytest.approx(bot_reward)


def test_detours_are_harmless_but_cost_turns():
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    tasks = [11, 14, 20, 24, 26, 27]
    straight = [BabyAIExpert(env, NO_DETOURS).demonstrate(t) for t in tasks]
    detoured = [BabyAIExpert(env, ExpertConfig(detour_share=1.0, max_detours=3), seed=1).demonstrate(t) for t in tasks]
    assert all(d.episode.success for d in straight + detoured)
    assert all(d.detours >= 1 for d in detoured)
    assert sum(d.episode.turns for d in detoured) > sum(d.episode.turns for d in straight)


def test_a_detour_planned_after_the_episode_ended_is_not_counted():
    """The count is of detours taken: a demo that ended first plays the straight demo's actions."""
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))

    def actions(demo):
        return [m["content"].split("Action:")[-1] for m in demo.episode.messages if m["role"] == "assistant"]

    tasks = (0, 1, 2, 3, 4, 7, 12, 13, 14, 15)  # levels the expert solves in a few turns
    straight = [BabyAIExpert(env, NO_DETOURS).demonstrate(t) for t in tasks]
    expert = BabyAIExpert(env, ExpertConfig(detour_share=1.0, max_detours=1), seed=2)
    detoured = [expert.demonstrate(t) for t in tasks]
    assert {d.detours for d in detoured} == {0, 1}
    assert all(actions(plain) == actions(demo) for plain, demo in zip(straight, detoured) if demo.detours == 0)


def test_verbosity_levels_spread_tokens_per_turn_and_vocabulary_is_complete(tiny_tokenizer):
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    means = []
    for level in range(5):
        only = tuple(float(i == level) for i in range(5))
        expert = BabyAIExpert(env, ExpertConfig(verbosity_weights=only, verbosity_jitter=0.0, detour_share=0.5), seed=level)
        counts = []
        for task_id in (11, 20, 24, 28, 33, 35):
            messages = expert.demonstrate(task_id).episode.messages
            text = "\n".join(m["content"] for m in messages)
            ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
            assert tiny_tokenizer.unk_token_id not in ids, tiny_tokenizer.convert_ids_to_tokens(ids)
            counts += tokens_per_turn(tiny_tokenizer, messages)
        means.append(sum(counts) / len(counts))
    assert means == sorted(means) and means[-1] > 4 * means[0], means


def test_the_most_verbose_turns_fit_the_cpu_defaults_turn_budget(tiny_tokenizer):
    """configs/cpu_pipeline.yaml lets the policy write 96 new tokens per turn. A demonstrated
    turn longer than that teaches the policy turns that are cut off before their Action."""
    budget = 96
    env = BabyAITextEnv(BabyAIConfig(max_turns=12))
    expert = BabyAIExpert(env, ExpertConfig(verbosity_weights=(0, 0, 0, 0, 1), verbosity_jitter=0.0), seed=0)
    lengths = []
    for task_id in SAMPLE:
        try:
            lengths += tokens_per_turn(tiny_tokenizer, expert.demonstrate(task_id).episode.messages)
        except ExpertFailure:
            continue
    over = [n for n in lengths if n >= budget]
    assert len(lengths) > 300 and len(over) <= 0.01 * len(lengths), (len(lengths), sorted(over))


def test_the_bootstrap_counts_expert_turns_longer_than_the_turn_budget(tiny_tokenizer):
    env = BabyAITextEnv(BabyAIConfig(max_turns=12))

    def demo(level: int):
        only = tuple(float(i == level) for i in range(5))
        expert = BabyAIExpert(env, ExpertConfig(verbosity_weights=only, verbosity_jitter=0.0, detour_share=0.0))
        episode = expert.demonstrate(24).episode
        return record_from_episode(episode, tiny_tokenizer, task_id="24", env="babyai", split="train", seed=0,
                                   source="expert", policy="expert")

    terse, verbose = demo(0), demo(4)
    counted = turns_over_budget([terse, verbose], tiny_tokenizer, max_new_tokens=30)
    assert counted == {"turns": terse.steps + verbose.steps, "over_budget": verbose.steps, "max_new_tokens": 30}
    assert turns_over_budget([terse, verbose], tiny_tokenizer, max_new_tokens=96)["over_budget"] == 0


def test_a_bot_that_replans_forever_ends_as_an_expert_failure():
    """On UnlockToUnlock task 188 minigrid's bot cycles inside one replan; the budget turns
    that into an ExpertFailure instead of a hang."""
    expert = BabyAIExpert(BabyAITextEnv(BabyAIConfig()), ExpertConfig(detour_share=0.3), seed=0)
    with pytest.raises(ExpertFailure, match="did not converge"):
        expert.demonstrate(188)
