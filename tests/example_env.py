"""A third text environment, small enough to read in one go: the worked example of
docs/environments.md#adding-an-environment. A config names it by import path,
``env: {name: "tests.example_env:CORRIDOR"}``; every process that rebuilds it (MCTS workers,
evaluators) imports this module.

The agent walks a corridor of rooms, picks up the key lying in one of them and opens the door
in the last room. Task i has 2 to ``max_rooms`` rooms and its key room drawn with seed i.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace

import gymnasium as gym

from environments.episode import play_episode
from environments.parsing import FEEDBACK_TEXTS, format_response, normalize_action, not_available, parse_response
from environments.registry import EnvironmentSpec, TaskEnvironment

INSTRUCTION = ("You are in a corridor of rooms. Find the key, then open the door in the last room. "
               "Answer in the form 'Thought: <your reasoning> Action: <one action from the list>'.")
MISSION = "Mission: take the key and open the door."
ROOM, ACTIONS = "Room {} of {}.", "Actions:"
KEY_HERE, DOOR_HERE, CARRYING = "You see the key.", "You see the door.", "You carry the key."
FORWARD, BACK, PICK_UP, OPEN = "go forward", "go back", "pick up the key", "open the door"
TEST_TASKS, VALIDATION_TASKS = tuple(range(10)), tuple(range(10, 20))  # training tasks: 20 on


@dataclass(frozen=True)
class CorridorConfig:
    max_rooms: int = 5
    """The longest corridor: task i has between 2 and this many rooms."""
    max_turns: int = 8
    """Agent turns before the episode is truncated."""

    def __post_init__(self):
        if self.max_rooms < 2 or self.max_turns < 1:
            raise ValueError(f"max_rooms must be at least 2 and max_turns at least 1; "
                             f"got {self.max_rooms} and {self.max_turns}")


@dataclass(frozen=True)
class Corridor:
    """The whole state of an episode (immutable, so a snapshot is the object itself)."""
    rooms: int
    key_room: int
    room: int = 1
    carrying: bool = False
    turn: int = 0
    done: bool = False


def layout(task_id: int, max_rooms: int) -> Corridor:
    rng = random.Random(task_id)
    rooms = rng.randint(2, max_rooms)
    return Corridor(rooms, key_room=rng.randint(1, rooms))


class CorridorEnv(gym.Env):
    observation_space = action_space = gym.spaces.Text(max_length=1 << 16, charset=string.printable)

    def __init__(self, config: CorridorConfig):
        self.config, self.state = config, layout(0, config.max_rooms)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = layout(options["task_id"], self.config.max_rooms)
        return f"{MISSION}\n{self.render()}", {"valid": True, "success": False}

    def actions(self) -> list[str]:
        """The actions offered here (the door is offered in the last room, but opens only with the key)."""
        s = self.state
        offered = {FORWARD: s.room < s.rooms, BACK: s.room > 1, PICK_UP: s.room == s.key_room and not s.carrying,
                   OPEN: s.room == s.rooms}
        return [action for action, available in offered.items() if available]

    def step(self, response: str):
        """One turn: an action from the list changes the state; anything else only costs the turn."""
        action = parse_response(response).action
        chosen = normalize_action(action) if action is not None else None
        valid = chosen in self.actions()
        s = self.state = replace(self.state, turn=self.state.turn + 1)
        if valid:
            self.state = replace(s, room=s.room + {FORWARD: 1, BACK: -1}.get(chosen, 0),
                                 carrying=s.carrying or chosen == PICK_UP, done=chosen == OPEN and s.carrying)
        success = self.state.done
        truncated = not success and self.state.turn >= self.config.max_turns
        page = self.render() if valid else f"{not_available(action)}\n{self.render()}"
        return page, float(success), success, truncated, {"valid": valid, "success": success, "turn": self.state.turn}

    def render(self) -> str:
        s = self.state
        parts = [ROOM.format(s.room, s.rooms)]
        if s.room == s.key_room and not s.carrying:
            parts.append(KEY_HERE)
        if s.room == s.rooms:
            parts.append(DOOR_HERE)
        if s.carrying:
            parts.append(CARRYING)
        return " ".join([*parts, ACTIONS, ", ".join(self.actions())]) + "."

    def snapshot(self) -> Corridor:
        return self.state

    def restore(self, snapshot: Corridor) -> None:
        self.state = snapshot


def _build(config: CorridorConfig) -> TaskEnvironment:
    def describe(task_id: int) -> dict:
        corridor = layout(task_id, config.max_rooms)
        return {"seed": task_id, "provenance": {"rooms": corridor.rooms, "key_room": corridor.key_room}}

    return TaskEnvironment("corridor", CorridorEnv(config), INSTRUCTION, lambda task_id: {"task_id": task_id}, describe,
                           TEST_TASKS, validation_tasks=VALIDATION_TASKS)


# --- the expert the tiny-model bootstrap imitates -------------------------------------------

THOUGHTS = {  # (short, long) per situation
    "ahead": ("The key is ahead.", "I do not carry the key and it is not in this room, so I go forward to find it."),
    "behind": ("The key is behind me.", "I walked past the key, so I go back to the room where it lies."),
    "here": ("The key is here.", "The key lies in this room, so I pick it up before I walk on."),
    "look": ("I look into the next room first.", "Before I take the key I want to see the next room."),
    "door ahead": ("The door is ahead.", "I carry the key, so I go forward to the door in the last room."),
    "open": ("I open the door.", "I carry the key and the door is in this room, so I open it."),
}


@dataclass(frozen=True)
class CorridorExpertConfig:
    detour_share: float = 0.3
    """Share of demonstrations that step away from the key before picking it up (two turns
    more: the labeled data gets trajectories of different lengths)."""
    long_thought_share: float = 0.5
    """Share of demonstrations whose Thoughts are the long ones."""

    def __post_init__(self):
        if not (0 <= self.detour_share <= 1 and 0 <= self.long_thought_share <= 1):
            raise ValueError(f"detour_share and long_thought_share must be in [0, 1]; "
                             f"got {self.detour_share} and {self.long_thought_share}")


def expert_move(state: Corridor, detour: bool) -> tuple[str, str]:
    """(situation, action) for the shortest way on; ``detour``: step away from the key first."""
    if not state.carrying and state.room == state.key_room:
        if detour:
            return "look", FORWARD if state.room < state.rooms else BACK
        return "here", PICK_UP
    if not state.carrying:
        return ("ahead", FORWARD) if state.room < state.key_room else ("behind", BACK)
    return ("door ahead", FORWARD) if state.room < state.rooms else ("open", OPEN)


def demonstrator(env: CorridorEnv, config: CorridorExpertConfig, seed: int):
    def play(task_id: int):
        rng = random.Random(f"{seed}-{task_id}")
        detour, verbose = rng.random() < config.detour_share, rng.random() < config.long_thought_share
        detour_left = detour  # taken once

        def act(_messages) -> str:
            nonlocal detour_left
            situation, action = expert_move(env.state, detour_left)
            detour_left = detour_left and situation != "look"
            return format_response(THOUGHTS[situation][verbose], action)

        episode = play_episode(env, {"task_id": task_id}, act, INSTRUCTION)
        return episode, {"detours": int(detour), "long_thoughts": int(verbose)}
    return play


def vocabulary_texts(env: CorridorEnv) -> list[str]:
    """Every text a page, the instruction or the expert can hold, and the numbers on pages."""
    thoughts = [thought for pair in THOUGHTS.values() for thought in pair]
    pages = [MISSION, ROOM, KEY_HERE, DOOR_HERE, CARRYING, ACTIONS, FORWARD, BACK, PICK_UP, OPEN]
    return [INSTRUCTION, *pages, *thoughts, *FEEDBACK_TEXTS, *(str(n) for n in range(env.config.max_rooms + 1))]


def _expert_kit():
    from depo_ray.env_setup import ExpertKit  # the pipeline's side: only the bootstrap asks for it

    return ExpertKit(lambda: CorridorExpertConfig, demonstrator, vocabulary_texts)


CORRIDOR = EnvironmentSpec(lambda: CorridorConfig, _build, expert=_expert_kit)
