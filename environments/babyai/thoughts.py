"""Thoughts in the agent's voice for expert turns, at five verbosity levels.

Level 0 names the move in a few words; level 4 deliberates at length (restates the mission,
lists everything in sight, weighs alternatives, double-checks). Demonstrations draw a level
per trajectory, so the data has a real spread of tokens per turn: the spread DEPO learns from.
Every template is a module constant so the tokenizer vocabulary can be read off them.
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
ALTERNATIVES = (
    "I could also {other}, but that would not help the mission.",
    "Another option is to {other}, but it seems less useful.",
    "I considered that I could {other}, but I prefer a direct move.",
)
DOUBLE_CHECKS = (
    "Let me double check the mission: {mission}.",
    "Before acting, I check again that this fits the mission: {mission}.",
)
TURN_REFLECTIONS = (
    "This is turn {turn}, and I want to finish without wasting moves.",
    "I am on turn {turn}, so far so good, and I must keep each move useful.",
)
CLOSERS = ("So I will {intent}.", "The best move is to {intent}.", "Therefore I {intent}.")


@dataclass(frozen=True)
class TurnContext:
    mission: str
    action: str
    scene: Scene
    turn: int
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
    parts = [f"My mission is to {ctx.mission}.", _seen(ctx.scene, limit=1 if verbosity == 2 else None), f"{reason}."]
    if verbosity >= 3:
        parts.insert(0, rng.choice(OPENERS))
        parts.insert(3, _carrying(ctx.scene))
        other = _other_intent(ctx, rng)
        if other:
            parts.append(rng.choice(ALTERNATIVES).format(other=other))
    if verbosity == 4:
        parts.append(rng.choice(DOUBLE_CHECKS).format(mission=ctx.mission))
        parts.append(rng.choice(TURN_REFLECTIONS).format(turn=ctx.turn))
    parts.append(rng.choice(CLOSERS).format(intent=intent))
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


def _seen(scene: Scene, limit: int | None) -> str:
    objects = scene.objects[:limit] if limit else scene.objects
    if not objects:
        return SEEN_NOTHING
    return " ".join(SEEN_ONE.format(name=obj.name, where=describe_position(obj)) for obj in objects)


def _carrying(scene: Scene) -> str:
    return CARRY_SOMETHING.format(carrying=scene.carrying) if scene.carrying else CARRY_NOTHING


def _other_intent(ctx: TurnContext, rng: random.Random) -> str | None:
    others = [obj.name for obj in ctx.scene.objects if obj.name not in ctx.action]
    if not others:
        return None
    return INTENTS["go to"].format(target=rng.choice(others))


def template_texts() -> list[str]:
    """Every fixed phrase above, for building a vocabulary."""
    texts = [*INTENTS.values(), SEEN_NOTHING, SEEN_ONE, CARRY_NOTHING, CARRY_SOMETHING]
    for group in (REASONS_ON_TASK, REASONS_MOVING, REASONS_DETOUR, REASONS_DETOUR_TURN, OPENERS,
                  ALTERNATIVES, DOUBLE_CHECKS, TURN_REFLECTIONS, CLOSERS):
        texts.extend(group)
    texts.append("My mission is to")
    return texts
