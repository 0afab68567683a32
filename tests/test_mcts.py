"""MCTS on a small deterministic environment with scripted policies (no Ray, no model)."""

import math
import random

import pytest

from depo_ray.search.mcts import Node, ReplayBranching, Search, SearchConfig, backpropagate, chat, select, uct

MOVES = {"left": -1, "right": 1, "stay": 0}


class LineWorld:
    """Walk on 0..5 from 0 to the goal at 3; reward 1 − 0.1 · turns on arrival."""

    def __init__(self, goal=3, max_turns=6):
        self.goal, self.max_turns = goal, max_turns

    def reset(self, *, seed=None, options=None):
        self.position, self.turns, self.goal = 0, 0, (options or {}).get("goal", self.goal)
        return "at 0", {}

    def step(self, response):
        self.turns += 1
        self.position = min(5, max(0, self.position + MOVES[response.split("Action: ")[-1]]))
        if self.position == self.goal:
            return "arrived", 1 - 0.1 * self.turns, True, False, {"success": True}
        truncated = self.turns >= self.max_turns
        return ("out of time" if truncated else f"at {self.position}"), 0.0, False, truncated, {"success": False}

    def snapshot(self):
        return self.position, self.turns, self.goal

    def restore(self, snapshot):
        self.position, self.turns, self.goal = snapshot


class LineWorldWithoutSnapshots(LineWorld):
    snapshot = restore = None


def scripted_policy(seed=0):
    """Expansions offer every move; rollouts pick one at random (seeded)."""
    rng = random.Random(seed)

    def propose(messages, n):
        if n == 1:
            return [f"Thought: hm. Action: {rng.choice(list(MOVES))}"]
        return [f"Thought: try {move}. Action: {move}" for move in list(MOVES)[:n]]

    return propose


def most_visited_path(root):
    moves, node = [], root
    while node.children:
        node = max(node.children, key=lambda child: child.visits)
        moves.append(node.response.split("Action: ")[-1])
    return moves


def test_uct_values_by_hand():
    parent = Node(response=None, observation="", snapshot=None, visits=10)
    child = Node(response="a", observation="", snapshot=None, parent=parent, visits=4, value_sum=2.0)
    assert uct(child, parent.visits, exploration=1.5) == pytest.approx(0.5 + 1.5 * math.sqrt(math.log(10) / 4))
    unvisited = Node(response="b", observation="", snapshot=None, parent=parent)
    assert uct(unvisited, parent.visits, 1.5) == math.inf
    parent.children = [child, unvisited]
    assert select(parent, 1.5) is unvisited


def test_backpropagation_updates_every_node_on_the_path():
    root = Node(response=None, observation="", snapshot=None, visits=3, value_sum=1.0)
    middle = Node(response="a", observation="", snapshot=None, parent=root, visits=2, value_sum=1.0)
    leaf = Node(response="b", observation="", snapshot=None, parent=middle)
    sibling = Node(response="c", observation="", snapshot=None, parent=root, visits=1, value_sum=0.0)
    backpropagate(leaf, 0.7)
    assert (root.visits, root.value_sum) == (4, pytest.approx(1.7))
    assert (middle.visits, middle.value) == (3, pytest.approx(1.7 / 3))
    assert (leaf.visits, leaf.value) == (1, pytest.approx(0.7))
    assert (sibling.visits, sibling.value_sum) == (1, 0.0)


@pytest.mark.parametrize("env", [LineWorld(), ReplayBranching(LineWorldWithoutSnapshots())], ids=["snapshot", "replay"])
def test_search_finds_the_optimal_path(env):
    search = Search(env, SearchConfig(simulations=80, children=3, exploration=0.5, max_depth=6), "walk to 3", reset_options={})
    episodes = search.run(scripted_policy())
    assert most_visited_path(search.root) == ["right", "right", "right"]
    best = max(episodes, key=lambda e: e.reward)
    assert best.reward == pytest.approx(0.7) and best.success and best.turns == 3
    assert [m["content"].split("Action: ")[-1] for m in best.messages if m["role"] == "assistant"] == ["right"] * 3
    keys = [tuple(m["content"] for m in e.messages if m["role"] == "assistant") for e in episodes]
    assert len(keys) == len(set(keys))  # every trajectory once
    assert any(not e.success and e.truncated for e in episodes)


def test_replay_branching_restores_with_the_reset_seed():
    class SeededLine(LineWorldWithoutSnapshots):
        def reset(self, *, seed=None, options=None):
            super().reset()
            self.position = seed or 0
            return f"at {self.position}", {}

    env = ReplayBranching(SeededLine())
    env.reset(seed=2, options={})
    env.step("Action: right")
    snapshot = env.snapshot()
    env.step("Action: left")
    env.restore(snapshot)
    assert env.step("Action: stay")[0] == "arrived"  # back at 3, not at 1


def test_identical_samples_make_one_child_and_the_chat_follows_the_path():
    search = Search(LineWorld(), SearchConfig(simulations=1, children=3), "walk to 3", reset_options={})
    search.run(lambda messages, n: ["Action: right"] * n)
    assert len(search.root.children) == 1
    node = search.root.children[0]
    assert chat("walk to 3", node) == [
        {"role": "system", "content": "walk to 3"}, {"role": "user", "content": "at 0"},
        {"role": "assistant", "content": "Action: right"}, {"role": "user", "content": "at 1"},
    ]
    (episode,) = search.found.values()
    assert episode.turns == 3 and episode.success and episode.messages[-1]["role"] == "assistant"


def test_bad_search_settings_are_refused():
    with pytest.raises(ValueError, match="search.children"):
        SearchConfig(children=0)
