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


def parse_response(text: str) -> ParsedResponse:
    """Take the last "Action:" as the action (models sometimes restate earlier ones)."""
    matches = list(_ACTION.finditer(text))
    if not matches:
        return ParsedResponse(thought=_strip_thought(text), action=None)
    last = matches[-1]
    action = text[last.end():].strip().splitlines()[0].strip() if text[last.end():].strip() else ""
    return ParsedResponse(thought=_strip_thought(text[: last.start()]), action=action)


def _strip_thought(text: str) -> str:
    return _THOUGHT.sub("", text, count=1).strip()


def normalize_action(action: str) -> str:
    """Lowercase, drop surrounding punctuation and quotes, collapse whitespace."""
    action = action.strip().strip("\"'`[]().").lower()
    return " ".join(action.split())


def format_response(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}"
