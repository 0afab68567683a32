"""The texts every word the BabyAI text environment and its expert can produce comes from.

The CPU default policy's word-level tokenizer reads its vocabulary off these texts, so they
must be complete: tests play expert episodes on every level and check that no word is unknown.
"""

from __future__ import annotations

import string

from minigrid.core.constants import COLOR_NAMES

from environments.babyai.planning import PRIMITIVES
from environments.babyai.prompt import instruction_for
from environments.babyai.thoughts import template_texts
from environments.parsing import FEEDBACK_TEXTS

OBJECT_TYPES = ("ball", "box", "key", "door", "goal", "lava", "object", "wall")
MISSION_TEXT = (
    "go to the a pick up open put next to then after you and on your left right in front of behind"
)
OBSERVATION_TEXT = (
    "Mission: Walls: steps step ahead left right No wall in sight. You see: - (open) (closed) "
    "(locked) here You see no objects. You carry a nothing. Actions: go to pick up go through "
    "toggle and go through Mission complete. Mission failed. Out of time: the episode is over."
)
MAX_NUMBER = 999  # object numbers, step counts and turn numbers all stay below this


def vocabulary_texts() -> list[str]:
    """Missions, observations, actions, the expert's Thoughts and the system instructions,
    with the colors, object types, punctuation marks and numbers they are filled in with."""
    return [MISSION_TEXT, OBSERVATION_TEXT, *FEEDBACK_TEXTS, *PRIMITIVES, *template_texts(),
            instruction_for("high_level"), instruction_for("primitive"),
            *COLOR_NAMES, *OBJECT_TYPES, *string.punctuation, *(str(n) for n in range(MAX_NUMBER + 1))]
