"""High-level actions of the BabyAI text benchmark and their expansion into primitives.

A high-level action ("go to red ball 1", "pick up red ball 1", "go through blue door 1",
"toggle and go through blue door 1") expands into minigrid primitives by breadth-first search
over (cell, direction) through the cells the agent sees now; blocked cells are anything that
cannot be walked over (walls, objects, closed doors) and lava. The agent never plans through
cells it cannot see.
"""

from __future__ import annotations

from collections import deque

from minigrid.core.actions import Actions
from minigrid.core.constants import DIR_TO_VEC

from environments.babyai.scene import Pos, Scene

PRIMITIVES: dict[str, Actions] = {
    "turn left": Actions.left,
    "turn right": Actions.right,
    "move forward": Actions.forward,
    "pick up": Actions.pickup,
    "drop": Actions.drop,
    "toggle": Actions.toggle,
}
PRIMITIVE_NAMES: dict[int, str] = {int(action): name for name, action in PRIMITIVES.items()}


def _walkable(env, pos: Pos) -> bool:
    cell = env.grid.get(*pos)
    return cell is None or (cell.can_overlap() and cell.type != "lava")


def path_to_face(env, scene: Scene, target: Pos) -> list[int] | None:
    """Shortest primitive sequence that ends next to ``target``, facing it; None if none."""
    start = (scene.agent_pos, scene.agent_dir)
    frontier = deque([start])
    came_from: dict[tuple[Pos, int], tuple[tuple[Pos, int], int] | None] = {start: None}
    while frontier:
        state = frontier.popleft()
        (x, y), d = state
        dx, dy = DIR_TO_VEC[d]
        if (x + dx, y + dy) == target:
            return _unwind(came_from, state)
        ahead = (x + dx, y + dy)
        moves = [((ahead, d), Actions.forward)] if ahead in scene.visible and _walkable(env, ahead) else []
        moves += [(((x, y), (d - 1) % 4), Actions.left), (((x, y), (d + 1) % 4), Actions.right)]
        for nxt, action in moves:
            if nxt not in came_from:
                came_from[nxt] = (state, int(action))
                frontier.append(nxt)
    return None


def _unwind(came_from, state) -> list[int]:
    actions = []
    while came_from[state] is not None:
        state, action = came_from[state]
        actions.append(action)
    return actions[::-1]


def high_level_actions(env, scene: Scene) -> dict[str, list[int]]:
    """Every object-directed action available now, with its primitive expansion."""
    actions: dict[str, list[int]] = {}
    for obj in scene.objects:
        if obj.kind in ("goal", "lava"):
            continue
        path = path_to_face(env, scene, obj.pos)
        if path is None:
            continue
        if path:  # already facing it: "go to" would change nothing
            actions[f"go to {obj.name}"] = path
        if obj.kind in ("ball", "box", "key") and scene.carrying is None:
            actions[f"pick up {obj.name}"] = path + [int(Actions.pickup)]
        if obj.kind == "door":
            if obj.state == "open":
                actions[f"go through {obj.name}"] = path + [int(Actions.forward)]
            elif _toggle_changes_door(obj.color, obj.state == "locked", scene):
                actions[f"toggle and go through {obj.name}"] = path + [int(Actions.toggle), int(Actions.forward)]
    return actions


def _toggle_changes_door(color: str, locked: bool, scene: Scene) -> bool:
    """Toggling changes a door unless it is locked and we lack its key."""
    return not locked or scene.carrying == f"{color} key"


def primitive_actions(env, scene: Scene) -> dict[str, list[int]]:
    """The primitives that would change something right now."""
    x, y = scene.agent_pos
    dx, dy = DIR_TO_VEC[scene.agent_dir]
    ahead = (x + dx, y + dy)
    front = env.grid.get(*ahead)
    actions = {"turn left": [int(Actions.left)], "turn right": [int(Actions.right)]}
    if _walkable(env, ahead):
        actions["move forward"] = [int(Actions.forward)]
    if front is not None and front.can_pickup() and scene.carrying is None:
        actions["pick up"] = [int(Actions.pickup)]
    if front is None and scene.carrying is not None:
        actions["drop"] = [int(Actions.drop)]
    if front is not None and (front.type == "box" or (front.type == "door" and _toggle_changes_door(front.color, front.is_locked, scene))):
        actions["toggle"] = [int(Actions.toggle)]
    return actions
