"""WebShop's goals: the instructions an episode asks for, built from the loaded products.

What carries over from the original engine, as facts of the benchmark:

- price_upper is the larger of two distinct draws among the first four multiples of 10
  above the product's price, and the instruction gains ", and price lower than X.XX dollars";
- synthetic goals are one per combination of the product's options, weighted by the inverse
  frequency of their attributes; human goals skip instructions with no attributes and weigh 1;
- the goal order: shuffled as ``random.seed(233); random.shuffle(goals)`` does, then test is
  goals 0-499, dev 500-1499, train 1500 and up.

Where the original draws from the unseeded global ``random``, the functions here take a seed.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections import defaultdict

from environments.webshop.products import CatalogError

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_UPPER = 1000000
GOAL_SHUFFLE_SEED = 233
SPLITS = {"test": (0, 500), "dev": (500, 1500), "train": (1500, None), "all": (0, None)}


def _price_upper(rng: random.Random, prices, asin: str) -> tuple[float, str]:
    """(price_upper, instruction suffix): two distinct multiples of 10 among the first four
    above the price, the larger kept; no limit when fewer than two are left (or no prices)."""
    if prices is None:
        return NO_PRICE_UPPER, ""
    price = prices[asin]
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_UPPER, ""
    upper = max(rng.sample(above, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def _products_of(catalog) -> list[dict]:
    return getattr(catalog, "products", catalog)


def human_goals(catalog, prices: dict[str, float] | None, seed: int = 0) -> list[dict]:
    """One goal per human instruction that names at least one attribute, in product order."""
    rng = random.Random(f"webshop-goals-{seed}")
    goals = []
    for product in _products_of(catalog):
        asin = product["asin"]
        for ins in product.get("instructions", ()):
            attributes = ins["instruction_attributes"]
            if len(attributes) == 0:
                continue
            price_upper, price_text = _price_upper(rng, prices, asin)
            goals.append({
                "asin": asin,
                "category": product["category"],
                "query": product["query"],
                "name": product["name"],
                "product_category": product["product_category"],
                "instruction_text": ins["instruction"].strip(".") + price_text,
                "attributes": attributes,
                "price_upper": price_upper,
                "goal_options": ins["instruction_options"],
                "weight": 1,
            })
    return goals


def synthetic_goals(catalog, prices: dict[str, float] | None, seed: int = 0) -> list[dict]:
    """One goal per combination of option values of each product with a synthetic instruction;
    weight: the mean over the goal's attributes of 1 / (goals having that attribute)."""
    rng = random.Random(f"webshop-goals-{seed}")
    goals = []
    counts: dict[str, int] = defaultdict(int)
    for product in _products_of(catalog):
        instruction = product.get("instruction_text")
        if instruction is None:
            continue
        asin = product["asin"]
        attributes = product["instruction_attributes"]
        if not attributes:
            raise CatalogError(f"product {asin}: has an instruction but no instruction_attributes")
        price_upper, price_text = _price_upper(rng, prices, asin)
        options = product["options"]
        names = sorted(options)
        for combination in itertools.product(*(options[n] for n in names)):
            goal_options = dict(zip(names, combination))
            option_text = ", and ".join(f"{k}: {v}" for k, v in goal_options.items())
            option_text = f" with {option_text}" if option_text else ""
            goals.append({
                "asin": asin,
                "category": product["category"],
                "query": product["query"],
                "name": product["Title"],
                "product_category": product["product_category"],
                "instruction_text": f"{instruction}{option_text}{price_text}",
                "attributes": attributes,
                "price_upper": price_upper,
                "goal_options": goal_options,
            })
            for a in attributes:
                counts[a] += 1
    for goal in goals:
        goal["weight"] = sum(1.0 / counts[a] for a in goal["attributes"]) / len(goal["attributes"])
    return goals


def split_range(split: str, num_goals: int) -> range:
    """Positions of a split in the shuffled goal list (test 0-499, dev 500-1499, train 1500+, all)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {sorted(SPLITS)}")
    start, stop = SPLITS[split]
    stop = num_goals if stop is None else min(stop, num_goals)
    if start >= stop:
        raise ValueError(f"split {split!r} (goals {start}-{'' if SPLITS[split][1] is None else SPLITS[split][1] - 1}) "
                         f"is empty: there are only {num_goals} goals")
    return range(start, stop)


def shuffle_goals(goals: list[dict], seed: int = GOAL_SHUFFLE_SEED) -> list[dict]:
    """A copy of ``goals`` in the original's order: ``random.seed(seed); random.shuffle(goals)``."""
    shuffled = list(goals)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def split_goals(goals: list[dict], split: str | None, seed: int = GOAL_SHUFFLE_SEED,
                indices=None) -> list[dict]:
    """Shuffle the goals as the original does, then take a split ("test", "dev", "train",
    "all"), or, when ``indices`` is given, those positions of the shuffled list instead."""
    shuffled = shuffle_goals(goals, seed)
    if indices is None:
        if split is None:
            raise ValueError("split_goals needs a split name or indices")
        r = split_range(split, len(shuffled))
        return shuffled[r.start:r.stop]
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {sorted(SPLITS)}")
    chosen = []
    for i in indices:
        try:
            if isinstance(i, bool):
                raise TypeError
            i = operator.index(i)
        except TypeError:
            raise ValueError(f"goal indices must be integers, got {i!r}") from None
        if not 0 <= i < len(shuffled):
            raise ValueError(f"goal index {i} is out of range: there are {len(shuffled)} goals (0-{len(shuffled) - 1})")
        chosen.append(shuffled[i])
    return chosen
