"""Thoughts in the agent's voice for expert turns, at five verbosity levels.

Level 0 names the move in a few words; level 4 thinks aloud (an opener, the mission, what it
sees, what it carries, why, and the move). Demonstrations draw a level per trajectory, so the
data has a real spread of tokens per turn: the spread DEPO learns from. Even level 4 stays
within the CPU default's turn budget (96 new tokens): a demonstrated turn longer than the
policy may write teaches it to be cut off before its Action. Every template is a module
constant so the tokenizer vocabulary can be read off them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from environments.babyai.scene import Scene, describe_position

VERBOSITY_LEVELS = 5

INTENTS = {
    "go to": "go to the {target}",
    "pick up": "pick up the {target}",
    "go through": "walk through the {target}",
    "toggle and go through": "open the {target} and go through it",
    "turn left": "turn left",
    "turn right": "turn right",
    "move forward": "move forward",
    "pick up here": "pick up the object in front of me",
    "drop": "drop what I carry",
    "toggle": "toggle the thing in front of me",
}
REASONS_ON_TASK = (
    "The mission needs the {target}",
    "The {target} matters for my mission",
    "I should deal with the {target} now",
)
REASONS_MOVING = (
    "I need a better position",
    "This brings me closer to what I need",
    "I have to move to make progress",
    "I should change my view to find what I need",
)
REASONS_DETOUR = (
    "I want a closer look at the {target} first",
    "Let me check the {target} before going on",
)
REASONS_DETOUR_TURN = (
    "Let me look around once more",
    "I want to check the other side",
)
OPENERS = ("Let me think.", "Let me think step by step.", "Okay, let me plan this.")
SEEN_NOTHING = "I see no objects right now."
SEEN_ONE = "I can see the {name}, {where}."
CARRY_NOTHING = "My hands are empty."
CARRY_SOMETHING = "I am carrying a {carrying}."
CLOSERS = ("So I will {intent}.", "The best move is to {intent}.", "Therefore I {intent}.")


@dataclass(frozen=True)
class TurnContext:
    mission: str
    action: str
    scene: Scene
    detour: bool = False


def action_kind_and_target(action: str) -> tuple[str, str | None]:
    for kind in ("toggle and go through", "go through", "go to", "pick up"):
        if action.startswith(kind + " "):
            return kind, action[len(kind) + 1:]
    return ("pick up here" if action == "pick up" else action), None


def write_thought(ctx: TurnContext, verbosity: int, rng: random.Random) -> str:
    if not 0 <= verbosity < VERBOSITY_LEVELS:
        raise ValueError(f"verbosity must be in [0, {VERBOSITY_LEVELS}), got {verbosity}")
    kind, target = action_kind_and_target(ctx.action)
    intent = INTENTS[kind].format(target=target)
    if verbosity == 0:
        return intent[0].upper() + intent[1:] + "."
    reason = _reason(ctx, target, rng)
    if verbosity == 1:
        return f"{reason}, so I {intent}."
    parts = [f"My mission is to {ctx.mission}.", f"{reason}.", rng.choice(CLOSERS).format(intent=intent)]
    if verbosity >= 3:
        parts.insert(1, _seen_first(ctx.scene))
    if verbosity == 4:
        parts.insert(0, rng.choice(OPENERS))
        parts.insert(3, _carrying(ctx.scene))
    return " ".join(parts)


def _reason(ctx: TurnContext, target: str | None, rng: random.Random) -> str:
    if ctx.detour:
        return rng.choice(REASONS_DETOUR if target else REASONS_DETOUR_TURN).format(target=target)
    if target and _mentions(ctx.mission, target):
        return rng.choice(REASONS_ON_TASK).format(target=target)
    return rng.choice(REASONS_MOVING)


def _mentions(mission: str, target: str) -> bool:
    color, kind = target.split()[:2] if len(target.split()) > 2 else ("", target.split()[0])
    return kind in mission and (color in mission or f"a {kind}" in mission or f"the {kind}" in mission)


def _seen_first(scene: Scene) -> str:
    if not scene.objects:
        return SEEN_NOTHING
    first = scene.objects[0]
    return SEEN_ONE.format(name=first.name, where=describe_position(first))


def _carrying(scene: Scene) -> str:
    return CARRY_SOMETHING.format(carrying=scene.carrying) if scene.carrying else CARRY_NOTHING


def template_texts() -> list[str]:
    """Every fixed phrase above, for building a vocabulary."""
    texts = [*INTENTS.values(), SEEN_NOTHING, SEEN_ONE, CARRY_NOTHING, CARRY_SOMETHING]
    for group in (REASONS_ON_TASK, REASONS_MOVING, REASONS_DETOUR, REASONS_DETOUR_TURN, OPENERS, CLOSERS):
        texts.extend(group)
    texts.append("My mission is to")
    return texts
