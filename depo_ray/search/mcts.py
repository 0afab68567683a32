"""Monte Carlo tree search over agent turns (pure Python, no Ray).

A node is the state after one agent turn; its children are different sampled responses
("Thought: ... Action: ...") from that state. One simulation:

1. selection      from the root, follow the child with the highest
                  UCT = Q + w · sqrt(ln N(parent) / N(child)) (unvisited children first)
                  until a node that is terminal or has no children yet;
2. expansion      sample k responses from the policy at that node and step a copy of the
                  environment with each (duplicates of the same text are one child);
3. rollout        from the first new child, sample one response per turn until the episode
                  ends or ``max_depth`` turns; the result is a complete trajectory;
4. backpropagation of the rollout's return to every node on the path.

Every complete trajectory met (rollouts and terminal leaves) is kept once, keyed by its
sequence of responses. The environment branches with ``snapshot()`` / ``restore()``; wrap an
environment without them in ``ReplayBranching``.

The search never calls the model itself: ``Search.steps()`` is a generator that yields each
``Request`` it needs answered and receives the responses, so a caller can keep requests of
many trees in flight at once (``depo_ray.search.interleave``). A tree has one request out at a
time, so its shape depends only on its own responses, never on how requests are scheduled.
Trees may share one environment object: every step restores its parent's snapshot first.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Generator, Protocol

from environments.episode import Episode, Message, answer_all


@dataclass(frozen=True)
class SearchConfig:
    simulations: int = 8
    """Simulations (select, expand, rollout, backpropagate) per task."""
    children: int = 3
    """k: responses sampled when a node is expanded."""
    exploration: float = 1.0
    """w in UCT = Q + w · sqrt(ln N(parent) / N(child))."""
    max_depth: int = 20
    """Agent turns after which a rollout stops even if the environment has not ended."""
    temperature: float = 1.0
    """Sampling temperature of expansions and rollouts."""
    max_new_tokens: int = 96
    """Longest response the policy may generate in one turn."""
    seed: int = 0
    """Base of the sampling seeds: each request of a task's search gets its own seed from
    (seed, task, its place in that search), so a task searched again (after a worker's death,
    in a resumed run) samples what it sampled before, however requests were batched."""

    def __post_init__(self):
        for name in ("simulations", "children", "max_depth", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"search.{name} must be at least 1, got {getattr(self, name)}")
        if self.exploration < 0 or self.temperature < 0:
            raise ValueError("search.exploration and search.temperature must be non-negative")


def request_seed(base: int, task_id: int, index: int) -> int:
    """The sampling seed of the ``index``-th request of task ``task_id``'s search: a hash over
    31 bits, not a counter, since vLLM samples a request's n answers with seeds seed, seed + 1, ...
    and neighbouring requests would share samples."""
    return zlib.crc32(f"{base}:{task_id}:{index}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Request:
    """What a search needs generated next."""

    messages: list[Message]
    """The chat so far."""
    n: int
    """How many sampled responses."""


class Policy(Protocol):
    def __call__(self, messages: list[Message], n: int) -> list[str]:
        """``n`` sampled responses to the chat so far."""


class BranchingEnv(Protocol):
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]: ...
    def step(self, response: str) -> tuple[str, float, bool, bool, dict]: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...


@dataclass(eq=False)
class Node:
    response: str | None
    """The agent turn that led here (None at the root)."""
    observation: str
    """What the environment answered (the end notice on a terminal node)."""
    snapshot: Any
    """Environment state after the turn."""
    parent: Node | None = None
    returns: float = 0.0
    """Sum of rewards from the start of the episode to this node."""
    terminal: bool = False
    success: bool = False
    info: dict = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    @property
    def value(self) -> float:
        """Q: mean backed-up return."""
        return self.value_sum / self.visits if self.visits else 0.0

    def path(self) -> list[Node]:
        nodes = [self]
        while nodes[-1].parent is not None:
            nodes.append(nodes[-1].parent)
        return nodes[::-1]


def uct(child: Node, parent_visits: int, exploration: float) -> float:
    if child.visits == 0:
        return math.inf
    return child.value + exploration * math.sqrt(math.log(parent_visits) / child.visits)


def select(root: Node, exploration: float) -> Node:
    """Descend by highest UCT (first child on ties) to a terminal or unexpanded node."""
    node = root
    while node.children and not node.terminal:
        node = max(node.children, key=lambda child: uct(child, node.visits, exploration))
    return node


def backpropagate(node: Node, value: float) -> None:
    for visited in node.path():
        visited.visits += 1
        visited.value_sum += value


def chat(instruction: str, node: Node) -> list[Message]:
    """The messages up to ``node``: instruction, first observation, then turns and answers
    (a terminal node's end notice is not part of the chat)."""
    path = node.path()
    messages = [{"role": "system", "content": instruction}, {"role": "user", "content": path[0].observation}]
    for step in path[1:]:
        messages.append({"role": "assistant", "content": step.response})
        if not step.terminal:
            messages.append({"role": "user", "content": step.observation})
    return messages


def episode_of(instruction: str, node: Node) -> Episode:
    turns = node.path()[1:]
    return Episode(chat(instruction, node), node.returns, node.success, node.depth,
                   terminated=node.terminal and not node.info.get("truncated", False),
                   truncated=node.info.get("truncated", False) or not node.terminal, final_info=node.info,
                   invalid_turns=[i for i, step in enumerate(turns) if not step.info.get("valid", True)])


class Search:
    """One tree for one task: ``steps()`` (driven by a caller) or ``run(policy)`` returns every
    distinct complete trajectory found."""

    def __init__(self, env: BranchingEnv, config: SearchConfig, instruction: str, reset_options: dict):
        self.env, self.config, self.instruction = env, config, instruction
        observation, info = env.reset(options=reset_options)
        self.root = Node(response=None, observation=observation, snapshot=env.snapshot(), info=info)
        self.found: dict[tuple[str, ...], Episode] = {}

    def run(self, policy: Policy) -> list[Episode]:
        """The whole search, answering each request with ``policy`` as it comes."""
        return answer_all(self.steps(), lambda request: policy(request.messages, request.n))

    def steps(self) -> Generator[Request, list[str], list[Episode]]:
        for _ in range(self.config.simulations):
            yield from self.simulate()
        return list(self.found.values())

    def simulate(self) -> Generator[Request, list[str], None]:
        leaf = select(self.root, self.config.exploration)
        if leaf.terminal or leaf.depth >= self.config.max_depth:
            self._keep(leaf)
            backpropagate(leaf, leaf.returns)
            return
        self.expand(leaf, (yield Request(chat(self.instruction, leaf), self.config.children)))
        end = yield from self.rollout(leaf.children[0])
        self._keep(end)
        backpropagate(leaf.children[0], end.returns)

    def expand(self, node: Node, responses: list[str]) -> None:
        """Children of ``node`` for the distinct ``responses``, in order."""
        for response in dict.fromkeys(responses):
            node.children.append(self._step(node, response))

    def rollout(self, node: Node) -> Generator[Request, list[str], Node]:
        """Play on from ``node`` with one sample per turn; the nodes made here stay out of the
        tree (only the first step of a rollout is a tree node)."""
        while not node.terminal and node.depth < self.config.max_depth:
            (response,) = yield Request(chat(self.instruction, node), 1)
            node = self._step(node, response)
        return node

    def _step(self, node: Node, response: str) -> Node:
        self.env.restore(node.snapshot)
        observation, reward, terminated, truncated, info = self.env.step(response)
        return Node(response=response, observation=observation, snapshot=self.env.snapshot(), parent=node,
                    returns=node.returns + reward, terminal=terminated or truncated,
                    success=bool(info.get("success", False)), info={**info, "truncated": truncated and not terminated})

    def _keep(self, node: Node) -> None:
        key = tuple(step.response for step in node.path()[1:])
        if key and key not in self.found:
            self.found[key] = episode_of(self.instruction, node)


class ReplayBranching:
    """Snapshot/restore for an environment that has neither: a snapshot is the list of
    responses so far, and restore replays them from the same reset."""

    def __init__(self, env):
        self.env = env
        self._reset: dict = {}
        self._responses: list[str] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._reset, self._responses = {"seed": seed, "options": options}, []
        return self.env.reset(**self._reset)

    def step(self, response: str):
        self._responses.append(response)
        return self.env.step(response)

    def snapshot(self) -> tuple[str, ...]:
        return tuple(self._responses)

    def restore(self, snapshot: tuple[str, ...]) -> None:
        self.env.reset(**self._reset)  # the same seed too, or a seeded level would differ
        self._responses = []
        for response in snapshot:
            self.step(response)
