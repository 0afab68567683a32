"""The worked example of adding an environment (tests/example_env.py, a corridor with a key
and a door), named by import path: the env itself, its expert and vocabulary, the config
naming it, and the pipeline from the plan through BC, generation and labeling to the
evaluation of π_BC on its test tasks."""

from dataclasses import replace
from pathlib import Path

import pytest

from depo_ray.config import ConfigError, load_yaml
from depo_ray.env_setup import EnvConfig, expert_config, expert_kit, make_env, select_tasks
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.records import record_from_episode
from depo_ray.search.mcts import Search, SearchConfig
from environments.episode import play_episode, replay
from environments.registry import EnvironmentSpec
from tests.example_env import (BACK, CORRIDOR, FORWARD, OPEN, PICK_UP, TEST_TASKS, VALIDATION_TASKS, CorridorConfig,
                               CorridorEnv, CorridorExpertConfig, demonstrator, layout)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(__file__).with_name("example_env.yaml")
NAME = "tests.example_env:CORRIDOR"
NO_EXPERT = EnvironmentSpec(CORRIDOR.config_type, CORRIDOR.build)
"""The corridor without an expert (named "tests.test_example_env:NO_EXPERT" below)."""


def answer(action: str) -> str:
    return f"Thought: on.\nAction: {action}"


def test_a_task_is_the_same_corridor_every_time_and_a_snapshot_branches_it():
    env = CorridorEnv(CorridorConfig(max_turns=6))
    assert layout(27, 5) == layout(27, 5) and len({layout(t, 5) for t in range(20, 60)}) > 8
    responses = [answer(FORWARD), answer(BACK), "no action here", answer(PICK_UP)]
    assert replay(env, {"task_id": 27}, responses) == replay(env, {"task_id": 27}, responses)
    env.reset(options={"task_id": 27})
    branch = env.snapshot()
    forward = env.step(answer(FORWARD))
    env.restore(branch)
    assert env.step("Thought: hm.\nAction: dance")[0] != forward[0]
    env.restore(branch)
    assert env.step(answer(FORWARD)) == forward


def test_an_invalid_action_only_costs_its_turn_and_the_turn_limit_ends_the_episode():
    env = CorridorEnv(CorridorConfig(max_turns=3))
    first, _ = env.reset(options={"task_id": 20})
    start = env.snapshot()
    page, reward, terminated, truncated, info = env.step("Thought: I open it.\nAction: open the door")  # not in room 1
    assert page.startswith("'open the door' is not an available action.") and page.endswith(first.split("\n")[1])
    assert (reward, terminated, truncated, info["valid"]) == (0.0, False, False, False)
    assert env.snapshot() == replace(start, turn=1)
    env.step("")
    assert env.step("")[2:4] == (False, True)  # the third turn truncates


def test_an_episode_and_every_searched_trajectory_name_their_invalid_turns(tiny_tokenizer):
    env = CorridorEnv(CorridorConfig(max_turns=4))
    script = iter([answer(OPEN), answer(FORWARD), "no action here", answer(BACK)])
    episode = play_episode(env, {"task_id": 20}, lambda _messages: next(script), "Go.")
    assert episode.invalid_turns == [0, 2]
    record = record_from_episode(episode, tiny_tokenizer, task_id="20", env="corridor", split="train", seed=0,
                                 source="mcts", policy="scripted", provenance={"found": 0})
    assert record.provenance == {"found": 0, "invalid_turns": [0, 2]}

    def propose(_messages, n):  # task 24: five rooms, the key in the last; only going forward is valid early on
        return [answer(action) for action in (FORWARD, OPEN, PICK_UP)][:n] if n > 1 else [answer(FORWARD)]

    found = Search(env, SearchConfig(simulations=6, children=3, max_depth=4), "Go.", {"task_id": 24}).run(propose)
    assert any(e.invalid_turns for e in found) and any(not e.invalid_turns for e in found)
    for e in found:
        responses = [m["content"] for m in e.messages if m["role"] == "assistant"]
        steps = replay(env, {"task_id": 24}, responses)[1:]
        assert e.invalid_turns == [i for i, step in enumerate(steps) if not step[4]["valid"]]


def test_the_expert_solves_every_task_it_has_the_turns_for_and_a_detour_costs_two():
    env = CorridorEnv(CorridorConfig(max_turns=6))
    plain = demonstrator(env, CorridorExpertConfig(detour_share=0.0), seed=0)
    detoured = demonstrator(env, CorridorExpertConfig(detour_share=1.0), seed=0)
    for task_id in range(20, 120):
        shortest = layout(task_id, 5).rooms + 1  # walk to the last room, pick up and open
        episode, details = plain(task_id)
        assert episode.success and episode.turns == shortest and details["detours"] == 0
        episode, details = detoured(task_id)
        assert details["detours"] == 1 and episode.success == (shortest + 2 <= 6)
        assert episode.turns == min(shortest + 2, 6) and episode.truncated != episode.success
    assert OPEN in episode.messages[-1]["content"] or not episode.success


def test_direct_twins_pair_each_detoured_demo_with_the_same_task_played_straight():
    from depo_ray.bootstrap.warm_start import expert_records
    from depo_ray.labeling import LabelConfig, label_expert_demos
    from depo_ray.models.tiny import build_tokenizer, vocabulary_of

    env = EnvConfig(NAME, {"max_turns": 12})  # room for every detour to end in a success
    tokenizer = build_tokenizer(vocabulary_of(expert_kit(NAME).vocabulary_texts(make_env(env).env)))
    tasks = range(20, 40)
    records = expert_records(tasks, tokenizer, env, {"detour_share": 0.5}, progress=False, direct_twins=True)
    detoured = {r.task_id: r for r in records if r.provenance["detours"]}
    twins = {r.task_id: r for r in records if r.provenance.get("direct_twin")}
    assert detoured and twins.keys() == detoured.keys() and len(records) == len(tasks) + len(twins)
    for task_id, twin in twins.items():
        assert twin.provenance["detours"] == 0 and twin.success and twin.steps < detoured[task_id].steps
    budget = LabelConfig(relative_step_budget=1.0, long_successes="undesirable")
    labels = {(r.task_id, bool(r.provenance.get("direct_twin"))): r.label
              for r in label_expert_demos(records, budget, "successes")}
    assert all(labels[(task_id, False)] == "undesirable" and labels[(task_id, True)] == "desirable" for task_id in twins)
    without = expert_records(tasks, tokenizer, env, {"detour_share": 0.5}, progress=False)
    assert without == [r for r in records if not r.provenance.get("direct_twin")]  # the same demos, twins aside


def test_the_tiny_tokenizer_knows_every_word_the_corridor_and_its_expert_write():
    from depo_ray.models.tiny import build_tokenizer, vocabulary_of

    task_env = make_env(EnvConfig(NAME, {"max_turns": 6}))
    kit = expert_kit(NAME)
    tokenizer = build_tokenizer(vocabulary_of(kit.vocabulary_texts(task_env.env)))
    play = kit.demonstrator(task_env.env, CorridorExpertConfig(detour_share=0.5), 1)
    texts = [m["content"] for task_id in range(20, 80) for m in play(task_id)[0].messages]
    task_env.env.reset(options={"task_id": 20})
    texts.append(task_env.env.step(answer("open the key"))[0])  # the feedback line; its quote in known words
    long_thoughts = [t for t in texts if t.startswith("Thought: I do not carry the key")]
    assert long_thoughts and len(texts) > 300
    for text in texts:
        assert tokenizer.unk_token_id not in tokenizer(text, add_special_tokens=False)["input_ids"], text


def test_a_config_names_the_environment_by_its_import_path_and_a_bad_one_in_one_line():
    task_env = make_env(EnvConfig(NAME, {"max_rooms": 3}))
    assert task_env.name == "corridor" and task_env.env.config == CorridorConfig(max_rooms=3)
    assert task_env.held_out == TEST_TASKS + VALIDATION_TASKS
    corridor = layout(27, 3)
    assert task_env.describe(27) == {"seed": 27, "provenance": {"rooms": corridor.rooms, "key_room": corridor.key_room}}
    assert expert_config(NAME, {"detour_share": 0.1}) == CorridorExpertConfig(detour_share=0.1)
    example = str(Path(__file__).with_name("example_env.py"))
    for name, message in [
        ("corridor", "env.name: unknown environment 'corridor'; built in: ['babyai', 'webshop'], or an import path"),
        ("tests.no_such_env:CORRIDOR", "env.name: 'tests.no_such_env:CORRIDOR': cannot import module 'tests.no_such_env' "
                                       "(No module named 'tests.no_such_env')"),
        ("tests.example_env:CORRIDORS", f"env.name: 'tests.example_env:CORRIDORS': module tests.example_env ({example}) "
                                        "has no 'CORRIDORS'"),
        ("tests.example_env:CorridorEnv", f"env.name: 'tests.example_env:CorridorEnv': CorridorEnv in {example} is a type, "
                                          "not an EnvironmentSpec"),
        ("tests.example_env:", "env.name: 'tests.example_env:': expected an import path 'package.module:NAME'"),
    ]:
        with pytest.raises(ValueError) as error:
            EnvConfig(name)
        assert str(error.value).startswith(message) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"^env.options.max_room: unknown key"):
        EnvConfig(NAME, {"max_room": 3})


def test_the_example_config_loads_holds_out_the_test_tasks_and_needs_an_expert(tmp_path):
    config = load_yaml(PipelineConfig, CONFIG)
    held_out = make_env(config.env).held_out
    assert min(select_tasks(config.bootstrap.tasks, config.bootstrap.task_ids, held_out)) == 20
    with pytest.raises(ConfigError, match=r"bootstrap\.check_tasks: \[3\] are tests\.example_env:CORRIDOR test tasks"):
        load_yaml(PipelineConfig, CONFIG, {"bootstrap.check_tasks": [3, 20]})
    with pytest.raises(ConfigError, match=r"evaluate\.task_ids: tasks \[60\] are also searched"):
        load_yaml(PipelineConfig, CONFIG, {"evaluate.task_ids": [60]})
    with pytest.raises(ConfigError, match=r"policy: env 'tests\.test_example_env:NO_EXPERT' has no expert to bootstrap"):
        load_yaml(PipelineConfig, CONFIG, {"env.name": "tests.test_example_env:NO_EXPERT"})


@pytest.mark.ray
@pytest.mark.vllm
def test_the_example_environment_goes_from_the_plan_through_bc_to_its_evaluation(ray_cluster, tmp_path):
    """The pipeline as a user runs it (the config file, ``run_pipeline``), with the env's
    MCTS workers and evaluators, in their own processes, rebuilding it by import path. π_BC
    is the bootstrap's BC on the expert's demos here (``pi_bc: bootstrap``), which saves the
    bc stage's training run; the whole pipeline on the config trains it on D_BC."""
    from depo_ray.evaluate.episodes import run_evaluation
    from depo_ray.pipeline.plan import plan_run
    from depo_ray.pipeline.recipe import STAGES
    from depo_ray.pipeline.runner import run_pipeline
    from depo_ray.pipeline.stage import RunFolder
    from depo_ray.records import read_records
    from depo_ray.search.generate import shard_for

    config = load_yaml(PipelineConfig, CONFIG, {"run_dir": str(tmp_path / "run"), "pi_bc": "bootstrap"})
    # up to BC: the evaluate stage would also want KTO and DEPO, whose stages never touch the env
    stages = tuple(s for s in STAGES if s.name in ("bootstrap", "generate", "label", "bc"))
    plan = plan_run(config, ROOT, None, stages)
    assert plan.status == dict.fromkeys(("bootstrap", "generate", "label", "bc"), "todo") and not plan.problems
    assert "MCTS on tasks [60, 61]" in plan.table()
    run_pipeline(config, ROOT, progress=False, stages=stages)

    run = RunFolder(tmp_path / "run")
    demos, searched = read_records(run / "bootstrap" / "demos"), read_records(run.trajectories)
    assert sorted(run.trajectories.glob("*.parquet")) == [shard_for(run.trajectories, 60), shard_for(run.trajectories, 61)]
    assert {r.task_id for r in searched} == {"60", "61"} and {r.source for r in searched} == {"mcts"}
    assert len(demos) == 40 and {r.env for r in demos + searched} == {"corridor"}
    assert all(r.provenance["rooms"] == layout(int(r.task_id), 5).rooms for r in searched)  # the worker's own env
    labeled = read_records(run.labeled)
    assert {r.source for r in labeled} == {"expert", "mcts"}
    label = run.read_marker("label")
    assert label["desirable"] > 0 and label["undesirable"] > 0 and label["records"] == len(labeled)
    assert {r.label for r in labeled if r.source == "expert" and not r.success} == {"undesirable"}  # detours out of turns
    assert label["bc"] == len(read_records(run.d_bc)) == label["desirable"]
    assert run.model("bc", 0).resolve() == (run.root / run.read_marker("bootstrap")["policy"]).resolve()

    summary = run_evaluation(config.evaluate, str(run.model("bc", 0)), config.env, tmp_path / "eval", "bc", progress=False)
    played = read_records(tmp_path / "eval" / "trajectories.parquet")
    # π_BC walks the corridor: it solved 7 of the 10 test tasks when this test was written (9 after
    # the whole pipeline's BC on D_BC); with 8 bootstrap epochs instead of 16 it solved none
    assert summary["tasks"] == len(TEST_TASKS) and summary["succ"] >= 0.3 and summary["invalid_action_rate"] < 0.5
    assert sorted(int(r.task_id) for r in played) == list(TEST_TASKS) and {r.env for r in played} == {"corridor"}
    assert all(r.messages[1]["content"].startswith("Mission: take the key") for r in played)
