"""WebShop as a text environment with the gymnasium API (one ``step`` per agent turn).

The agent answers "Thought: ... Action: search[...]" or "... Action: click[...]". As in the
original text mode, a search works from any page, a click only on something the page lists
(lowercased; "search" itself is not clickable), and anything else changes nothing: the same
page comes back. "Buy Now" ends the episode with the original's reward; success means
reward 1. Task i is goal i of the shop's goal order (test 0-499, dev 500-1499, train 1500+).
"""

from __future__ import annotations

import copy
import re
import string
from dataclasses import dataclass, field

import gymnasium as gym

from environments.parsing import not_available, parse_response
from environments.webshop import pages
from environments.webshop.catalog import ShopConfig
from environments.webshop.goals import SPLITS

ACTION = re.compile(r"(search|click)\[(.+)\]", re.IGNORECASE | re.DOTALL)
TEST_TASKS = tuple(range(*SPLITS["test"]))


def webshop_action(action: str | None) -> tuple[str, str] | None:
    """An action line as (verb, argument), both lowercased: ("click", "b0abc12345"); None
    when it is not search[...] or click[...]."""
    match = ACTION.fullmatch(action.strip()) if action else None
    return (match.group(1).lower(), match.group(2).strip().lower()) if match else None


@dataclass(frozen=True)
class WebShopConfig:
    shop: ShopConfig = field(default_factory=ShopConfig)
    """The catalog, its goals and index."""
    max_turns: int = 15
    """Agent turns before the episode is truncated."""
    shared_shop: bool = False
    """Use the cluster's one Shop actor (Ray) instead of loading the catalog in this process."""

    def __post_init__(self):
        if not isinstance(self.max_turns, int) or self.max_turns < 1:
            raise ValueError(f"max_turns must be a positive integer, got {self.max_turns!r}")


@dataclass(frozen=True)
class WebShopSnapshot:
    session: pages.Session
    task_id: int
    turn: int
    finished: bool


_TEXT = gym.spaces.Text(max_length=1 << 20, charset=string.printable)


class WebShopTextEnv(gym.Env):
    metadata = {"render_modes": ["ansi"]}
    observation_space = _TEXT
    action_space = _TEXT

    def __init__(self, config: WebShopConfig | None = None, shop=None):
        self.config = config or WebShopConfig()
        self._shop = shop
        self._session: pages.Session | None = None
        self._task_id, self._turn, self._finished = -1, 0, True

    @property
    def shop(self):
        """Loaded on first use: building an environment to read its settings costs nothing."""
        if self._shop is None:
            if self.config.shared_shop:
                from environments.webshop.catalog import shared_shop

                self._shop = shared_shop(self.config.shop)
            else:
                from environments.webshop.catalog import Shop

                self._shop = Shop(self.config.shop)
        return self._shop

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start goal ``options={"task_id": i}``."""
        super().reset(seed=seed)
        if not options or "task_id" not in options:
            raise ValueError("reset needs options={'task_id': i} (the goal's index)")
        self._task_id, self._turn, self._finished = int(options["task_id"]), 0, False
        self._session = pages.Session(self.shop.goal(self._task_id))
        return self.render(), self._info(action=None, valid=True)

    def step(self, response: str):
        if self._finished:
            raise RuntimeError("episode is over; call reset()")
        self._turn += 1
        parsed = parse_response(response)
        command = webshop_action(parsed.action)
        valid = False
        if command:
            verb, argument = command
            if verb == "search" and argument:
                pages.search(self._session, argument, self.shop)
                valid = True
            elif verb == "click" and argument != "search":
                target = self.clickables().get(argument)
                if target is not None:
                    pages.click(self._session, argument, target, self.shop)
                    valid = True
        terminated = self._session.page == "done"
        truncated = not terminated and self._turn >= self.config.max_turns
        self._finished = terminated or truncated
        reward = float(self._session.reward) if terminated else 0.0
        page = self.render() if valid else f"{not_available(parsed.action)}\n{self.render()}"
        return page, reward, terminated, truncated, self._info(action=parsed.action, valid=valid)

    def snapshot(self) -> WebShopSnapshot:
        return WebShopSnapshot(copy.deepcopy(self._session), self._task_id, self._turn, self._finished)

    def restore(self, snapshot: WebShopSnapshot) -> None:
        self._session = copy.deepcopy(snapshot.session)
        self._task_id, self._turn, self._finished = snapshot.task_id, snapshot.turn, snapshot.finished

    def clickables(self) -> dict[str, tuple[str, str]]:
        return pages.clickables(self._session, self.shop, self.config.shop.show_attrs)

    def render(self) -> str:
        return pages.observation(self._session, self.shop, self.config.shop.show_attrs)

    @property
    def session(self) -> pages.Session | None:
        return self._session

    @property
    def turn(self) -> int:
        return self._turn

    def _info(self, *, action, valid) -> dict:
        done = self._session.page == "done"
        return {"task_id": self._task_id, "turn": self._turn, "action": action, "valid": valid, "page": self._session.page,
                "reward": self._session.reward if done else 0.0, "success": done and self._session.reward == 1.0}
