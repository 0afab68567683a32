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


def not_available(action: str | None, limit: int = 60) -> str:
    """The feedback line for an invalid action, quoting at most ``limit`` characters of it (a
    runaway generation must not flood the next prompt)."""
    if action is None:
        return "No action found. Answer as 'Thought: ... Action: ...'."
    shown = " ".join(action.split())
    shown = shown if len(shown) <= limit else shown[:limit] + "..."
    return f"'{shown or '(empty)'}' is not an available action. Nothing happened."


FEEDBACK_TEXTS = (not_available(None), not_available(""))
"""The fixed words of the feedback lines (word-level vocabularies read them)."""


def format_response(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}"
