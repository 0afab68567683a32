"""Expert demonstrations from minigrid's BabyAI bot, spoken through the text interface.

The bot plans in primitive steps. In high-level mode the expert looks ahead along the bot's
plan (on a copy of the world) and names the longest high-level action that reaches exactly
the state the bot would reach after the same number of primitive steps, falling back to the
bot's next primitive. It never takes more primitive steps than the bot would, so minigrid's reward is at least the bot's.
The bot stays in step with the real world through the environment's primitive listener, so
it also follows detours it did not choose (it replans from wherever the agent is).

The bot cannot solve KeyInBox and PutNext...Carrying (minigrid documents this), and it raises
when a box is toggled open; such episodes end as ``ExpertFailure``.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

from minigrid.core.actions import Actions
from minigrid.core.constants import DIR_TO_VEC
from minigrid.utils.baby_ai_bot import BabyAIBot

from environments.babyai.env import BabyAITextEnv
from environments.babyai.planning import PRIMITIVE_NAMES, PRIMITIVES
from environments.babyai.prompt import instruction_for
from environments.babyai.scene import read_scene
from environments.babyai.thoughts import VERBOSITY_LEVELS, TurnContext, write_thought
from environments.episode import Episode, play_episode
from environments.parsing import format_response


class ExpertFailure(RuntimeError):
    """The bot could not continue (unsolvable level, box opened, or it gave up)."""


@dataclass(frozen=True)
class ExpertConfig:
    verbosity_weights: tuple[float, ...] = (0.25, 0.2, 0.2, 0.2, 0.15)
    """Probability of each thought verbosity level 0..4, drawn once per demonstration."""
    verbosity_jitter: float = 0.2
    """Chance that a single turn moves one level up or down from the demo's level."""
    detour_share: float = 0.3
    """Share of demonstrations that take harmless detours (extra moves, no interactions)."""
    max_detours: int = 3
    """A detouring demonstration takes between 1 and this many detour turns."""
    lookahead: int = 32
    """At most this many primitive steps of the bot's plan are searched for a matching
    high-level action (never more than the longest available action takes)."""

    def __post_init__(self):
        if len(self.verbosity_weights) != VERBOSITY_LEVELS or min(self.verbosity_weights) < 0:
            raise ValueError(f"verbosity_weights needs {VERBOSITY_LEVELS} non-negative weights")
        if not 0.0 <= self.detour_share <= 1.0:
            raise ValueError(f"detour_share must be in [0, 1], got {self.detour_share}")


@dataclass
class Demonstration:
    episode: Episode
    verbosity: int
    detours: int
    """Detour turns taken."""


class BoundedBot(BabyAIBot):
    """minigrid's bot with a work budget per replan: on some seeds (e.g. UnlockToUnlock task
    188) its subgoal stack cycles forever inside one ``replan``; past the budget we raise
    instead, which the expert treats like any other bot dead end."""

    bfs_budget = 200_000  # breadth-first search steps per replan; a normal replan needs a few thousand

    def replan(self, action_taken=None):
        self._budget_start = self.bfs_step_counter
        return super().replan(action_taken)

    def _breadth_first_search(self, *args, **kwargs):
        if self.bfs_step_counter - getattr(self, "_budget_start", self.bfs_step_counter) > self.bfs_budget:
            raise RuntimeError("the bot's replanning did not converge")
        return super()._breadth_first_search(*args, **kwargs)


def _state_key(env, bot: BabyAIBot) -> tuple:
    """World state plus what the bot has seen: a shortcut that skips cells the bot meant to
    explore would leave it wanting to go back there."""
    carrying = (env.carrying.type, env.carrying.color) if env.carrying else None
    agent = (tuple(int(v) for v in env.agent_pos), int(env.agent_dir), carrying)
    return agent, env.grid.encode().tobytes(), bot.vis_mask.tobytes()


class BabyAIExpert:
    def __init__(self, env: BabyAITextEnv, config: ExpertConfig | None = None, seed: int = 0):
        self.env = env
        self.config = config or ExpertConfig()
        self.rng = random.Random(seed)
        self._bot: BabyAIBot | None = None
        self._suggestion: int | None = None

    def demonstrate(self, task_id: int) -> Demonstration:
        cfg = self.config
        verbosity = self.rng.choices(range(VERBOSITY_LEVELS), weights=cfg.verbosity_weights)[0]
        planned = self.rng.randint(1, cfg.max_detours) if self.rng.random() < cfg.detour_share else 0
        detour_turns = set(self.rng.sample(range(1, 8), planned))
        taken = []  # an episode may end before a planned detour's turn
        self._bot = None

        def act(messages) -> str:
            if self._bot is None:  # first turn: the env was just reset for this task
                self._bot = BoundedBot(self.env.minigrid)
                self._suggestion = self._replan(None)
            turn = self.env.turn + 1
            detour = turn in detour_turns
            if detour:
                taken.append(turn)
            action = self._detour_action() if detour else self._expert_action()
            level = verbosity
            if self.rng.random() < cfg.verbosity_jitter:
                level = min(VERBOSITY_LEVELS - 1, max(0, level + self.rng.choice((-1, 1))))
            ctx = TurnContext(self.env.minigrid.mission, action, read_scene(self.env.minigrid), detour)
            return format_response(write_thought(ctx, level, self.rng), action)

        with self.env.primitive_listener(self._follow):
            episode = play_episode(self.env, {"task_id": task_id}, act, instruction_for(self.env.config.action_mode))
        return Demonstration(episode, verbosity, len(taken))

    # -- choosing actions ----------------------------------------------------------------
    def _expert_action(self) -> str:
        if self._suggestion is None or self._suggestion == Actions.done:
            raise ExpertFailure("the bot has no further plan")
        first = PRIMITIVE_NAMES[int(self._suggestion)]
        if self.env.config.action_mode == "primitive":
            return first
        candidates = {name: steps for name, steps in self.env.available_actions.items() if name not in PRIMITIVES}
        if not candidates:
            return first
        planned = self._bot_plan(horizon=min(self.config.lookahead, max(map(len, candidates.values()))))
        # Take the high-level action that lands furthest along the bot's plan, never later
        # than the bot itself would get there. Dead reckoning of the pose rules out most
        # candidates before the costly simulation of world and bot.
        best, best_index = first, 0
        for name, expansion in candidates.items():
            pose = _pose_after(self.env.minigrid, expansion)
            if not any(pose == state[0][:2] for state in planned[len(expansion) - 1:]):
                continue
            state = self._state_after(expansion)
            for index in range(len(expansion) - 1, len(planned)):
                if planned[index] == state:
                    if index > best_index:
                        best, best_index = name, index
                    break
        return best

    def _bot_plan(self, horizon: int) -> list[tuple]:
        """States (world and bot memory) after each of the bot's next ``horizon`` primitive steps."""
        world, bot = copy.deepcopy((self.env.minigrid, self._bot))
        action, states = self._suggestion, []
        for _ in range(horizon):
            if action is None or action == Actions.done:
                break
            _, _, terminated, truncated, _ = world.step(action)
            try:
                next_action = bot.replan(action)
            except Exception:  # a dead end further ahead only shortens the plan we match against
                break
            states.append(_state_key(world, bot))
            if terminated or truncated:
                break
            action = next_action
        return states

    def _state_after(self, primitives: list[int]) -> tuple:
        """The state after taking ``primitives`` with the bot following along."""
        world, bot = copy.deepcopy((self.env.minigrid, self._bot))
        for primitive in primitives:
            world.step(primitive)
            try:
                bot.replan(primitive)
            except Exception:
                return ()
        return _state_key(world, bot)

    def _detour_action(self) -> str:
        """A move that changes nothing but the agent's place: going to a visible object or turning."""
        options = [name for name in self.env.available_actions if name.startswith("go to ")]
        options += ["turn left", "turn right"]
        return self.rng.choice(options)

    # -- keeping the bot in step -----------------------------------------------------------
    def _follow(self, primitive: int) -> None:
        if self._bot is not None:
            self._suggestion = self._replan(primitive)

    def _replan(self, action_taken: int | None) -> int:
        try:
            return self._bot.replan(action_taken)
        except Exception as error:  # the bot signals dead ends with assorted exceptions
            raise ExpertFailure(f"bot failed: {error!r}") from error



def _pose_after(world, primitives: list[int]) -> tuple:
    """(position, direction) after ``primitives``, assuming every forward step succeeds."""
    (x, y), d = (int(v) for v in world.agent_pos), int(world.agent_dir)
    for primitive in primitives:
        if primitive == Actions.left:
            d = (d - 1) % 4
        elif primitive == Actions.right:
            d = (d + 1) % 4
        elif primitive == Actions.forward:
            dx, dy = DIR_TO_VEC[d]
            x, y = x + int(dx), y + int(dy)
    return (x, y), d
