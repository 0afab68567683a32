"""Split an agent response of the form "Thought: ... Action: ..." into its parts.

Shared by every text environment: the policy is trained to answer in this format, and a
response that does not follow it must still produce a turn (with feedback), never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ACTION = re.compile(r"action\s*:", re.IGNORECASE)
_THOUGHT = re.compile(r"^\s*thought\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedResponse:
    thought: str
    action: str | None  # None when the response has no "Action:" part


def action_start(text: str) -> int | None:
    """Where the last "Action:" begins (models sometimes restate earlier ones); None without one.
    Before it: the reasoning segment; from it on: the action segment."""
    matches = list(_ACTION.finditer(text))
    return matches[-1].start() if matches else None


def parse_response(text: str) -> ParsedResponse:
    start = action_start(text)
    if start is None:
        return ParsedResponse(thought=_strip_thought(text), action=None)
    rest = text[_ACTION.match(text, start).end():]
    action = rest.strip().splitlines()[0].strip() if rest.strip() else ""
    return ParsedResponse(thought=_strip_thought(text[:start]), action=action)


def _strip_thought(text: str) -> str:
    return _THOUGHT.sub("", text, count=1).strip()


def normalize_action(action: str) -> str:
    """Lowercase, drop surrounding punctuation and quotes, collapse whitespace."""
    action = action.strip().strip("\"'`[]().").lower()
    return " ".join(action.split())


def format_response(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}"
