"""BabyAI as a text environment with the gymnasium API.

One ``step`` is one agent turn: the agent's whole response ("Thought: ... Action: ...") goes
in, the next observation text comes out. A high-level action expands into several minigrid
primitive steps. Reward and termination are minigrid's own: on success the reward is
``1 - 0.9 * step_count / max_steps`` where ``step_count`` counts *primitive* steps, not turns.
Agent turns are counted separately (``info["turn"]``) and are what DEPO's T_step means, so the
step discount in the reward and the turn count in DEPO's bonus measure different things.

A malformed or unavailable action never raises: it costs a turn, changes nothing in the
world (no primitive step), and the observation says why.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import string
from dataclasses import dataclass
from typing import Callable, Literal

import gymnasium as gym
import minigrid  # noqa: F401  (registers the BabyAI levels)
from minigrid.core.world_object import Wall

from environments.babyai.levels import task_level_and_seed
from environments.babyai.planning import high_level_actions, primitive_actions
from environments.babyai.scene import read_scene, render_scene
from environments.parsing import normalize_action, not_available, parse_response

ActionMode = Literal["high_level", "primitive"]


@dataclass(frozen=True)
class BabyAIConfig:
    action_mode: ActionMode = "high_level"
    """"high_level": go to / pick up / go through / toggle and go through an object, plus the
    primitives (the paper's benchmark). "primitive": turn left, turn right, move forward,
    pick up, drop, toggle only."""
    max_turns: int | None = 20
    """Agent turns before the episode is truncated (the paper's harness allows 20). None:
    only minigrid's own primitive-step limit applies."""
    max_steps: int | None = None
    """minigrid primitive-step limit; None keeps each level's own default (it varies by
    level). It also sets the step discount of the reward."""

    def __post_init__(self):
        if self.action_mode not in ("high_level", "primitive"):
            raise ValueError(f"action_mode must be 'high_level' or 'primitive', got {self.action_mode!r}")
        for name in ("max_turns", "max_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


@dataclass(frozen=True)
class Task:
    task_id: int | None
    level: str
    seed: int


@dataclass(frozen=True)
class BabyAISnapshot:
    """Everything needed to continue an episode from this exact state."""

    task: Task
    world: bytes
    """The minigrid env, pickled: the search takes a snapshot at every node and restores one at
    every expansion, and pickling is several times cheaper than a deep copy of the env; the
    bytes never change, so a snapshot restored many times is never copied."""
    fixed: tuple
    """The world's parts that no step changes (its walls, gym spaces and spec), pickled by
    reference: every snapshot of an episode shares them."""
    turn: int
    finished: bool
    mission: str
    available: dict[str, list[int]]
    """The actions this state offers, read when the snapshot was taken: restoring one (the
    search does it at every node it expands) needs no second reading of the scene."""


def _fixed_parts(world) -> tuple:
    # Nothing in BabyAI moves, opens or picks up a wall, and steps never touch the spaces.
    return (world.action_space, world.observation_space, world.spec,
            *(cell for cell in world.grid.grid if isinstance(cell, Wall)))


def _no_image():
    """Stands in for minigrid's ``gen_obs``, which renders the agent's egocentric image after
    every primitive step: the text env reads the scene itself and never looks at that image
    (``benchmarks/env_snapshot.py`` times a step both ways). A module-level function, so a
    pickled world keeps it."""
    return None


class _WorldPickler(pickle.Pickler):
    def __init__(self, buffer, fixed: tuple):
        super().__init__(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self._index = {id(part): i for i, part in enumerate(fixed)}

    def persistent_id(self, obj):
        return self._index.get(id(obj))


class _WorldUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, fixed: tuple):
        super().__init__(io.BytesIO(data))
        self._fixed = fixed

    def persistent_load(self, pid):
        return self._fixed[pid]


def _freeze(world, fixed: tuple) -> bytes:
    buffer = io.BytesIO()
    _WorldPickler(buffer, fixed).dump(world)
    return buffer.getvalue()


_TEXT = gym.spaces.Text(max_length=1 << 20, charset=string.printable)

_ALIASES = {
    "pickup": "pick up",
    "forward": "move forward",
    "go forward": "move forward",
    "left": "turn left",
    "right": "turn right",
}


class BabyAITextEnv(gym.Env):
    metadata = {"render_modes": ["ansi"]}
    observation_space = _TEXT
    action_space = _TEXT

    def __init__(self, config: BabyAIConfig | None = None):
        self.config = config or BabyAIConfig()
        self._env = None
        self._task: Task | None = None
        self._turn = 0
        self._finished = True
        self._mission = ""
        self._available: dict[str, list[int]] = {}
        self._fixed: tuple = ()
        self._listeners: list[Callable[[int], None]] = []

    # -- episode control ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a task: ``options={"task_id": i}`` (harness indexing) or
        ``options={"level": name}`` with ``seed``."""
        super().reset(seed=seed)
        options = options or {}
        if "task_id" in options:
            level, level_seed = task_level_and_seed(int(options["task_id"]))
            task = Task(int(options["task_id"]), level, level_seed)
        elif "level" in options:
            task = Task(None, options["level"], 0 if seed is None else seed)
        else:
            raise ValueError("reset needs options={'task_id': i} or options={'level': name} with a seed")
        kwargs = {} if self.config.max_steps is None else {"max_steps": self.config.max_steps}
        # Level generation prints "Sampling rejected..." to stdout; keep it out of logs.
        with contextlib.redirect_stdout(io.StringIO()):
            self._env = gym.make(task.level, **kwargs).unwrapped
            self._env.gen_obs = _no_image
            self._env.reset(seed=task.seed)
        self._fixed = _fixed_parts(self._env)
        self._task, self._turn, self._finished = task, 0, False
        self._mission = self._env.mission
        text = f"Mission: {self._mission}\n{self._describe()}"
        return text, self._info(action=None, valid=True, primitive_steps=0, success=False)

    def step(self, response: str):
        if self._finished:
            raise RuntimeError("episode is over; call reset()")
        self._turn += 1
        action, feedback, primitives = self._resolve(response)
        reward, terminated, truncated = 0.0, False, False
        for primitive in primitives:
            with contextlib.redirect_stdout(io.StringIO()):
                _, r, terminated, truncated, _ = self._env.step(primitive)
            reward += float(r)
            for listener in self._listeners:
                listener(primitive)
            if terminated or truncated:
                break
        success = terminated and reward > 0
        if not terminated and self.config.max_turns is not None and self._turn >= self.config.max_turns:
            truncated = True
        self._finished = terminated or truncated
        if terminated:
            text = "Mission complete." if success else "Mission failed."
        elif truncated:
            text = "Out of time: the episode is over."
        else:
            text = "\n".join(filter(None, [feedback, self._describe()]))
        info = self._info(action=action, valid=not feedback, primitive_steps=len(primitives), success=success)
        return text, reward, terminated, truncated, info

    # -- branching for search ----------------------------------------------------------
    def snapshot(self) -> BabyAISnapshot:
        return BabyAISnapshot(self._task, _freeze(self._env, self._fixed), self._fixed, self._turn, self._finished,
                              self._mission, dict(self._available))

    def restore(self, snapshot: BabyAISnapshot) -> None:
        self._task, self._turn, self._finished = snapshot.task, snapshot.turn, snapshot.finished
        self._env, self._fixed = _WorldUnpickler(snapshot.world, snapshot.fixed).load(), snapshot.fixed
        self._mission = snapshot.mission
        self._available = dict(snapshot.available)

    def reread_scene(self) -> str:
        """Read the scene and its actions again, after the minigrid world (``minigrid``) was
        edited in place; returns the observation text."""
        return self._describe()

    # -- read-only views ---------------------------------------------------------------
    @property
    def minigrid(self):
        """The underlying minigrid env (``unwrapped``), e.g. for the BabyAI bot. Its ``gen_obs``
        returns None (``_no_image``): read the view with ``gen_obs_grid``, as the bot does."""
        return self._env

    @property
    def task(self) -> Task | None:
        return self._task

    @property
    def turn(self) -> int:
        return self._turn

    @property
    def available_actions(self) -> dict[str, list[int]]:
        """Action text -> the primitive steps it would take now."""
        return dict(self._available)

    @contextlib.contextmanager
    def primitive_listener(self, listener: Callable[[int], None]):
        """Within this block, call ``listener(primitive)`` after every primitive step (the
        expert's bot follows the world this way)."""
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)

    def render(self) -> str:
        return render_scene(read_scene(self._env))

    # -- internals ---------------------------------------------------------------------
    def _describe(self) -> str:
        scene = read_scene(self._env)
        actions = primitive_actions(self._env, scene)
        if self.config.action_mode == "high_level":
            actions.update(high_level_actions(self._env, scene))
        self._available = actions
        return f"{render_scene(scene)}\nActions: {', '.join(actions)}"

    def _resolve(self, response: str) -> tuple[str | None, str, list[int]]:
        """(normalized action, feedback if invalid, primitive steps to take)."""
        parsed = parse_response(response)
        if parsed.action is None:
            return None, not_available(None), []
        said = normalize_action(parsed.action)
        action = _ALIASES.get(said, said).replace(" the ", " ").replace("pickup ", "pick up ")
        if action not in self._available and f"{action} 1" in self._available and f"{action} 2" not in self._available:
            action += " 1"  # "go to red ball" when only one red ball is in sight
        if action not in self._available:
            return said, not_available(said), []
        return action, "", self._available[action]

    def _info(self, *, action, valid, primitive_steps, success) -> dict:
        return {
            "task_id": self._task.task_id,
            "level": self._task.level,
            "seed": self._task.seed,
            "mission": self._mission,
            "turn": self._turn,
            "action": action,
            "valid": valid,
            "primitive_steps": primitive_steps,
            "step_count": int(self._env.step_count),
            "max_steps": int(self._env.max_steps),
            "success": success,
        }
