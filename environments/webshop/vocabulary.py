"""The texts every word a WebShop episode on one catalog can show or the oracle can write
comes from.

The CPU default's tiny policy reads and writes through a word-level tokenizer whose
vocabulary is read off these texts: the catalog's product texts (results and item pages),
the goals' instructions, the page furniture and the system instruction, and the oracle's
Thoughts and actions on every goal (they quote truncated titles). Sized for generated or
1000-product catalogs: the full 1.18M-product catalog would give a vocabulary far too large
for a tiny model.
"""

from __future__ import annotations

from dataclasses import replace

from environments.parsing import FEEDBACK_TEXTS
from environments.webshop import pages
from environments.webshop.prompt import INSTRUCTION

PAGE_TEXTS = ("WebShop", "Instruction:", "Search", "Thank you for shopping with us!", "Your score (min 0.0, max 1.0)",
              "Page (Total results: )", "Price: Rating: N.A.", " [SEP] ", pages.BUY_NOW, pages.NEXT_PAGE, pages.PREV_PAGE,
              pages.BACK_TO_SEARCH, pages.ATTRIBUTES_PAGE, *pages.SUB_PAGES, *FEEDBACK_TEXTS)


def _strings(value):
    """Strings and mapping keys (option groups are shown) of a record; numbers are not text
    the pages show as they are stored."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def vocabulary_texts(env) -> list[str]:
    """Texts of ``env``'s catalog, goals, pages and oracle, and the numbers below 1000 (the
    catalog is loaded in this process even when the env uses the shared shop actor)."""
    from environments.webshop.catalog import Shop
    from environments.webshop.env import WebShopTextEnv
    from environments.webshop.expert import WebShopExpert, WebShopExpertConfig

    shop = Shop(env.config.shop)
    texts = [INSTRUCTION, *PAGE_TEXTS]
    texts += [text for product in shop.catalog.products for text in _strings(product)]
    texts += [text for goal in shop.goals for text in _strings(goal)]
    local = WebShopTextEnv(replace(env.config, shared_shop=False), shop=shop)
    # every Thought at the top verbosity level, with and without the detour
    for detour_share in (0.0, 1.0):
        expert = WebShopExpert(local, WebShopExpertConfig(verbosity_weights=(0, 0, 0, 1), detour_share=detour_share))
        for task_id in range(shop.num_goals()):
            texts += [m["content"] for m in expert.demonstrate(task_id).episode.messages]
    return texts + [str(n) for n in range(1000)]
