"""What the agent sees, in words.

The scene is read from minigrid's own partial view (``gen_obs_grid``: the 7x7 cells in front
of the agent, with occlusion), converted to world coordinates, so the text tells exactly what
a minigrid agent observes and nothing more. Positions are given relative to the agent:
steps ahead and steps to the left or right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from minigrid.core.constants import DIR_TO_VEC

Pos = tuple[int, int]

# Objects worth naming; walls are described by distance, empty cells and floor not at all.
_NAMED_TYPES = ("ball", "box", "key", "door", "goal", "lava")


@dataclass(frozen=True)
class SeenObject:
    name: str  # e.g. "red ball 1", "blue door 2": unique in this scene
    kind: str  # minigrid type
    color: str
    state: str | None  # doors only: "open", "closed" or "locked"
    pos: Pos  # world coordinates
    ahead: int  # steps in front of the agent (0 = the agent's row)
    right: int  # steps to the right (negative = left)


@dataclass(frozen=True)
class Scene:
    agent_pos: Pos
    agent_dir: int
    visible: frozenset[Pos]  # world cells the agent sees now
    objects: tuple[SeenObject, ...]
    wall_distance: dict[str, int | None]  # "ahead", "left", "right" -> steps to wall, if seen
    carrying: str | None  # "yellow key"

    def find(self, name: str) -> SeenObject | None:
        return next((obj for obj in self.objects if obj.name == name), None)


def read_scene(env) -> Scene:
    """Build the scene from a minigrid env (``env.unwrapped`` of a BabyAI level)."""
    grid, vis_mask = env.gen_obs_grid()
    size = env.agent_view_size
    agent = (int(env.agent_pos[0]), int(env.agent_pos[1]))
    forward = np.array(DIR_TO_VEC[env.agent_dir])
    right_vec = np.array((-forward[1], forward[0]))
    visible: set[Pos] = set()
    raw: list[tuple[str, str, str | None, Pos, int, int]] = []
    for i in range(size):
        for j in range(size):
            if not vis_mask[i, j]:
                continue
            ahead, right = size - 1 - j, i - size // 2
            wx, wy = np.array(agent) + ahead * forward + right * right_vec
            if not (0 <= wx < env.width and 0 <= wy < env.height):
                continue
            pos = (int(wx), int(wy))
            visible.add(pos)
            cell = env.grid.get(*pos)
            if cell is None or cell.type not in _NAMED_TYPES or pos == agent:
                continue
            raw.append((cell.type, cell.color, _door_state(cell), pos, ahead, right))
    objects = _name_objects(raw)
    carrying = f"{env.carrying.color} {env.carrying.type}" if env.carrying else None
    walls = {
        "ahead": _wall_distance(env, agent, forward, visible),
        "left": _wall_distance(env, agent, -right_vec, visible),
        "right": _wall_distance(env, agent, right_vec, visible),
    }
    return Scene(agent, int(env.agent_dir), frozenset(visible), objects, walls, carrying)


def _door_state(cell) -> str | None:
    if cell.type != "door":
        return None
    return "open" if cell.is_open else ("locked" if cell.is_locked else "closed")


def _name_objects(raw) -> tuple[SeenObject, ...]:
    """Number objects that share colour and type, nearest first (ties: ahead, then left)."""
    raw = sorted(raw, key=lambda r: (abs(r[4]) + abs(r[5]), r[4], r[5]))
    counts: dict[tuple[str, str], int] = {}
    named = []
    for kind, color, state, pos, ahead, right in raw:
        counts[(color, kind)] = counts.get((color, kind), 0) + 1
        label = "goal" if kind == "goal" else f"{color} {kind}"
        named.append(SeenObject(f"{label} {counts[(color, kind)]}", kind, color, state, pos, ahead, right))
    return tuple(named)


def _wall_distance(env, start: Pos, step: np.ndarray, visible: set[Pos]) -> int | None:
    pos = np.array(start)
    for distance in range(1, env.agent_view_size):
        pos = pos + step
        key = (int(pos[0]), int(pos[1]))
        if key not in visible:
            return None
        cell = env.grid.get(*key)
        if cell is not None and cell.type == "wall":
            return distance
    return None


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def describe_position(obj: SeenObject) -> str:
    parts = []
    if obj.ahead:
        parts.append(f"{_steps(obj.ahead)} ahead")
    if obj.right:
        parts.append(f"{_steps(abs(obj.right))} {'right' if obj.right > 0 else 'left'}")
    return ", ".join(parts) if parts else "here"


def render_scene(scene: Scene) -> str:
    """The state part of an observation: walls, objects, what is carried."""
    walls = [f"{_steps(d)} {side}" for side, d in scene.wall_distance.items() if d is not None]
    lines = [f"Walls: {', '.join(walls)}." if walls else "No wall in sight."]
    if scene.objects:
        lines.append("You see:")
        for obj in scene.objects:
            state = f" ({obj.state})" if obj.state else ""
            lines.append(f"- {obj.name}{state}: {describe_position(obj)}")
    else:
        lines.append("You see no objects.")
    lines.append(f"You carry a {scene.carrying}." if scene.carrying else "You carry nothing.")
    return "\n".join(lines)
