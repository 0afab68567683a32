"""WebShop's pages and navigation in text mode, without a web server.

A ``Session`` is what the original site keeps per user (goal, keywords, results page,
product, chosen options) plus which page is shown. ``visible_texts`` lists a page's visible
strings in document order, as the original's HTML templates show them; the observation is
those strings joined by " [SEP] ". ``clickables`` maps each lowercased clickable text (buttons,
product ids, option values) to what it does. ``search`` and ``click`` change the session the
way the original's handlers do; the environment only calls ``click`` with a listed name.

Everything about products goes through a ``shop`` (``environments.webshop.catalog``): local,
or a Ray actor that many environments share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEARCH_RETURN_N = 50
PRODUCT_WINDOW = 10
BUY_NOW, NEXT_PAGE, PREV_PAGE, BACK_TO_SEARCH = "Buy Now", "Next >", "< Prev", "Back to Search"
SUB_PAGES = ("Description", "Features", "Reviews")
ATTRIBUTES_PAGE = "Attributes"
PAGES = ("search", "results", "item", "item_sub", "done")


@dataclass
class Session:
    goal: dict
    page: str = "search"
    keywords: str | None = None
    results: list[str] = field(default_factory=list)
    """Product ids of the last search, best first (at most SEARCH_RETURN_N)."""
    page_number: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    """Option group -> chosen value on the current product."""
    sub_page: str | None = None
    reward: float | None = None
    reward_info: object = None


def instruction_texts(session: Session) -> list[str]:
    return ["Instruction:", session.goal["instruction_text"]]


def visible_texts(session: Session, shop, show_attrs: bool = False) -> list[str]:
    if session.page == "search":
        return ["WebShop", *instruction_texts(session), "Search"]
    if session.page == "done":
        return ["Thank you for shopping with us!", "Your score (min 0.0, max 1.0)", str(session.reward)]
    texts = [*instruction_texts(session), BACK_TO_SEARCH]
    if session.page == "results":
        texts.append(f"Page {session.page_number} (Total results: {len(session.results)})")
        texts += [PREV_PAGE, NEXT_PAGE] if session.page_number > 1 else [NEXT_PAGE]
        for product in shop.products(results_on_page(session)):
            texts += [product["asin"], product["Title"], product["Price"]]
        return texts
    product = shop.product(session.asin)
    texts.append(PREV_PAGE)
    if session.page == "item":
        for group, values in product["options"].items():
            texts += [group, *values]
        texts += [product["Title"], f"Price: {product['Price']}", f"Rating: {product['Rating']}", *SUB_PAGES]
        return texts + ([ATTRIBUTES_PAGE] if show_attrs else []) + [BUY_NOW]
    if session.sub_page == "Description":
        return texts + [product["Description"]]
    if session.sub_page == "Features":
        return texts + list(product["BulletPoints"])
    if session.sub_page == "Reviews":
        for review in product["Reviews"]:
            texts += [f'"{review.get("title", "")}"', str(review.get("score", "")), review.get("body", "")]
        return texts
    return texts + list(product["Attributes"])


def observation(session: Session, shop, show_attrs: bool = False) -> str:
    # empty strings (a product without a description) are not visible text
    return " [SEP] ".join(t.strip() for t in visible_texts(session, shop, show_attrs) if t.strip())


def results_on_page(session: Session) -> list[str]:
    start = (session.page_number - 1) * PRODUCT_WINDOW
    return session.results[start:start + PRODUCT_WINDOW]


def clickables(session: Session, shop, show_attrs: bool = False) -> dict[str, tuple[str, str]]:
    """Lowercased clickable text -> (kind, value). Option values are listed as the page has
    them (already lowercase); a value in two groups selects the later group, as a later
    radio button of the same value shadows the earlier one in the original."""
    if session.page in ("search", "done"):
        return {"search": ("button", "Search")} if session.page == "search" else {}
    found = {BACK_TO_SEARCH.lower(): ("button", BACK_TO_SEARCH)}
    if session.page == "results":
        if session.page_number > 1:
            found[PREV_PAGE.lower()] = ("button", PREV_PAGE)
        found[NEXT_PAGE.lower()] = ("button", NEXT_PAGE)
        found.update({asin.lower(): ("product", asin) for asin in results_on_page(session)})
        return found
    found[PREV_PAGE.lower()] = ("button", PREV_PAGE)
    if session.page == "item":
        for name in (*SUB_PAGES, *([ATTRIBUTES_PAGE] if show_attrs else []), BUY_NOW):
            found[name.lower()] = ("button", name)
        for group, values in shop.product(session.asin)["options"].items():
            found.update({value: ("option", group) for value in values})
    return found


def search(session: Session, keywords: str, shop) -> None:
    """A search from any page: results page 1; the chosen product and options are cleared."""
    session.keywords, session.results = keywords, shop.search(keywords, SEARCH_RETURN_N)
    session.page, session.page_number, session.asin, session.options, session.sub_page = "results", 1, None, {}, None


def click(session: Session, name: str, target: tuple[str, str], shop) -> None:
    """Follow a clickable listed by ``clickables`` (``name`` lowercased)."""
    kind, value = target
    if kind == "product":
        session.page, session.asin = "item", value
    elif kind == "option":
        session.options[value] = name
    elif value == BACK_TO_SEARCH:
        goal = session.goal
        session.__dict__.update(Session(goal).__dict__)
    elif value == NEXT_PAGE:
        session.page_number += 1
    elif value == PREV_PAGE and session.page == "results":
        session.page_number -= 1
    elif value == PREV_PAGE and session.page == "item":  # back to the same results page
        session.page, session.asin, session.options = "results", None, {}
    elif value == PREV_PAGE:  # from a sub page back to its product
        session.page, session.sub_page = "item", None
    elif value == BUY_NOW:
        info = shop.reward(session.asin, session.goal, session.options)
        session.page, session.reward, session.reward_info = "done", info.total, info
    else:  # Description, Features, Reviews, Attributes
        session.page, session.sub_page = "item_sub", value
