"""An oracle WebShop shopper: it knows the goal product and buys it with the goal's options.

It searches the instruction's words (without the price clause), pages through the results
to the goal product (or, if the search misses it, searches its title), clicks each goal
option and buys. Its Thoughts vary in length by a verbosity level drawn per demonstration,
and some demonstrations take harmless detours (a sub page and back), so the data has both
step-level and trajectory-level spread. Its rewards bound what the reward function gives a
perfect shopper (1.0 unless the goal itself is unreachable).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from environments.episode import Episode, play_episode
from environments.parsing import format_response
from environments.webshop import pages
from environments.webshop.env import WebShopTextEnv
from environments.webshop.prompt import INSTRUCTION

PRICE_CLAUSE = re.compile(r",?\s*and price lower than [\d.]+ dollars\s*$")
LEAD_IN = re.compile(r"^(?:i(?:'m| am) looking for|i (?:need|want|would like))\s+(?:an?\s+|some\s+)?")
VERBOSITY_LEVELS = 4


@dataclass(frozen=True)
class WebShopExpertConfig:
    verbosity_weights: tuple[float, ...] = (0.3, 0.3, 0.25, 0.15)
    """Probability of each Thought verbosity level 0..3, drawn once per demonstration."""
    detour_share: float = 0.3
    """Share of demonstrations that open a sub page of the product and come back."""

    def __post_init__(self):
        if len(self.verbosity_weights) != VERBOSITY_LEVELS or min(self.verbosity_weights) < 0:
            raise ValueError(f"verbosity_weights: {VERBOSITY_LEVELS} non-negative weights, got {self.verbosity_weights}")
        if not 0 <= self.detour_share <= 1:
            raise ValueError(f"detour_share must be in [0, 1], got {self.detour_share}")


@dataclass(frozen=True)
class Demonstration:
    episode: Episode
    verbosity: int
    detour: bool


def goal_keywords(goal: dict) -> str:
    """The instruction without its lead-in and price clause: "open toe sandals in silver"."""
    return LEAD_IN.sub("", PRICE_CLAUSE.sub("", goal["instruction_text"]).strip().lower())


def goal_option_values(goal: dict) -> list[str]:
    options = goal["goal_options"]
    return [str(v).lower() for v in (options.values() if isinstance(options, dict) else options)]


class WebShopExpert:
    def __init__(self, env: WebShopTextEnv, config: WebShopExpertConfig | None = None, seed: int = 0):
        self.env, self.config, self.rng = env, config or WebShopExpertConfig(), random.Random(seed)

    def demonstrate(self, task_id: int) -> Demonstration:
        verbosity = self.rng.choices(range(VERBOSITY_LEVELS), weights=self.config.verbosity_weights)[0]
        detour = self.rng.random() < self.config.detour_share
        state = {"searched_title": False, "detour": "pending" if detour else "none"}

        def act(messages) -> str:
            thought, action = self._next(state)
            return format_response(_thought(thought, verbosity), action)

        episode = play_episode(self.env, {"task_id": task_id}, act, INSTRUCTION)
        return Demonstration(episode, verbosity, detour)

    def _next(self, state: dict) -> tuple[list[str], str]:
        """Thought sentences (shortest first) and the action for the current page."""
        session, shop = self.env.session, self.env.shop
        goal = session.goal
        if session.page == "search":
            keywords = goal_keywords(goal)
            return [f"I search for {keywords}.", f"The price must stay under {goal['price_upper']:.2f} dollars.",
                    "The search should list it among the first results."], f"search[{keywords}]"
        if session.page == "results":
            return self._on_results(session, goal, state)
        product = shop.product(session.asin)
        if session.page == "item_sub":
            return ["Back to the product.", "I have read enough of it."], "click[< Prev]"
        if state["detour"] == "pending":
            state["detour"] = "taken"
            return ["Let me read the description first.", "It may say more about the features I need."], \
                "click[Description]"
        chosen = set(session.options.values())
        for value in goal_option_values(goal):
            if value not in chosen and value in self.env.clickables():
                return [f"I choose {value}.", f"The instruction asks for {value}.",
                        f"{product['Title'][:60]} offers it."], f"click[{value}]"
        return ["Everything matches; I buy it.", f"It costs {product['Price']}, under {goal['price_upper']:.2f} dollars.",
                "The options I need are selected."], "click[Buy Now]"

    def _on_results(self, session: pages.Session, goal: dict, state: dict) -> tuple[list[str], str]:
        asin = goal["asin"]
        if asin in pages.results_on_page(session):
            title = self.env.shop.product(asin)["Title"]
            return [f"{asin} is the one.", f"{title[:80]} matches the instruction.",
                    "Its title names the product I need."], f"click[{asin}]"
        if asin in session.results[session.page_number * pages.PRODUCT_WINDOW:]:
            return ["Not on this page; next.", "The right product must be further down the results."], "click[Next >]"
        if not state["searched_title"]:
            state["searched_title"] = True
            title = self.env.shop.product(asin)["Title"].lower()
            return ["The search missed it; I search its name.", f"I will search for {title[:60]}."], f"search[{title}]"
        return ["I cannot find it; I start over.", "Back to the search."], "click[Back to Search]"


def _thought(sentences: list[str], verbosity: int) -> str:
    """The first ``verbosity + 1`` sentences (all there are at the top level)."""
    return " ".join(sentences[:verbosity + 1])
