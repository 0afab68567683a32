"""Play one episode of a text environment with any policy, recording the chat.

The chat is the trajectory of docs/design.md: system instruction, first observation, then
alternating agent responses and observations. The observation that follows the last agent
turn (the episode's end notice) is not part of the chat: nothing is ever learned from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generator

Message = dict[str, str]


@dataclass
class Episode:
    messages: list[Message]
    reward: float
    success: bool
    turns: int
    terminated: bool
    truncated: bool
    final_info: dict = field(default_factory=dict)
    invalid_turns: list[int] = field(default_factory=list)
    """The agent turns (0-based) the environment rejected as invalid actions."""

    @property
    def instruction(self) -> str:
        return self.messages[0]["content"]


def play_episode(env, reset_options: dict, act: Callable[[list[Message]], str], instruction: str) -> Episode:
    return answer_all(episode_steps(env, reset_options, instruction), act)


def episode_steps(env, reset_options: dict, instruction: str, shared: bool = False) -> Generator[list[Message], str, Episode]:
    """``play_episode`` as a generator: yields the chat so far, is sent the next response, and
    returns the Episode. ``shared``: other episodes step ``env`` between this one's turns, so
    each turn restores this episode's snapshot first (the env needs snapshot/restore)."""
    observation, info = env.reset(options=reset_options)
    state = env.snapshot() if shared else None
    messages: list[Message] = [
        {"role": "system", "content": instruction},
        {"role": "user", "content": observation},
    ]
    reward, terminated, truncated, turns = 0.0, False, False, 0
    invalid_turns: list[int] = []
    while not (terminated or truncated):
        response = yield messages
        messages.append({"role": "assistant", "content": response})
        turns += 1
        if shared:
            env.restore(state)
        observation, step_reward, terminated, truncated, info = env.step(response)
        state = env.snapshot() if shared else None
        if not info.get("valid", True):
            invalid_turns.append(turns - 1)
        reward += step_reward
        if not (terminated or truncated):
            messages.append({"role": "user", "content": observation})
    return Episode(messages, reward, bool(info.get("success", False)), turns, terminated, truncated, info, invalid_turns)


def answer_all(steps: Generator, answer: Callable) -> Any:
    """Drive a request generator (an episode, a search) to its end, answering each request
    at once with ``answer(request)``; returns what the generator returns."""
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as finished:
        return finished.value


def replay(env, reset_options: dict, responses: list[str]) -> list[tuple]:
    """Reset and feed ``responses`` in order; return every (observation, reward, terminated,
    truncated, info), the reset's first (with reward 0). Same seed and responses, same result."""
    observation, info = env.reset(options=reset_options)
    results = [(observation, 0.0, False, False, info)]
    for response in responses:
        results.append(env.step(response))
        if results[-1][2] or results[-1][3]:
            break
    return results


def responses_of(messages: list[Message]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "assistant"]


class ObservedEnv:
    """Passes every call through to ``env`` and hands each step's result to ``on_step``
    (a search worker counting its tree's turns)."""

    def __init__(self, env, on_step: Callable[[tuple], None]):
        self.env, self.on_step = env, on_step

    def reset(self, **kwargs):
        return self.env.reset(**kwargs)

    def step(self, response: str):
        result = self.env.step(response)
        self.on_step(result)
        return result

    def snapshot(self):
        return self.env.snapshot()

    def restore(self, snapshot) -> None:
        self.env.restore(snapshot)
