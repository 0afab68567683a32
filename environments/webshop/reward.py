"""WebShop's purchase reward, computed the way the original benchmark computes it.

On "Buy Now" the episode is scored from the bought product, the goal, the price paid and the
chosen options::

    total = r_type * (attribute hits + option hits + price ok)
                   / (len(goal attributes) + len(goal options) + 1)

* An attribute hit: the goal attribute scores above 85 (``token_set_ratio``) against one of the
  product's ``Attributes``, or else occurs verbatim in the lowercased title, the lowercased
  bullet points joined by spaces, or the lowercased description.
* An option hit: a goal option scores above 85 against one of the chosen option values, both
  sides colour-normalised first (``normalize.normalize_color``). A dict of goal options is
  compared item by item as (group, value) pairs, as the original does; see ``_option_matches``.
* Price ok: the price paid is at most the goal's ``price_upper``.
* ``r_type`` (the type factor) looks at whether the product is the same kind of thing: the same
  search query, at least two shared breadcrumb categories, or enough shared nouns between the
  product names. See ``type_reward`` for its exact steps.

Fuzzy matching (parity with the original)
-----------------------------------------
The original calls ``thefuzz.fuzz.token_set_ratio`` and pins ``thefuzz==0.19.0``. That version
is not a rapidfuzz wrapper: it first cleans each side (drops the characters U+0080..U+00FF,
turns every ``\\W`` character into a space -- so, unlike rapidfuzz's ``default_process``, an
underscore survives -- lowercases, strips), then builds the token-set strings and takes the best
of three ``ratio``s, each rounded to an int. Its ``ratio`` is difflib's ``SequenceMatcher`` ratio,
because python-Levenshtein is not among the original's requirements.

Plain ``rapidfuzz.fuzz.token_set_ratio(a, b)`` does not agree: it neither lowercases nor strips
punctuation (no processor by default) and returns an unrounded float, so "Tea Tree" vs
"tea tree" scores 75 instead of 100, and a raw 85.1 passes "> 85" where thefuzz's rounded 85
does not. On 200,000 random attribute-like pairs the raw call disagreed with thefuzz 0.19.0 on
the "> 85" decision for about 5.7% of them. With ``processor=utils.default_process`` and
rounding, what is left comes from underscores (default_process drops them), U+0080..U+00FF
letters (thefuzz deletes them) and difflib-vs-Indel ratios.

So ``token_set_ratio`` below re-implements thefuzz 0.19.0's steps (checked equal to thefuzz
0.19.0 itself on 200,000 random pairs, punctuation, Unicode and tuples included).
``backend="difflib"`` (the default) matches the original as pinned. ``backend="rapidfuzz"``
takes each ``ratio`` from rapidfuzz instead (an Indel ratio, equal to python-Levenshtein's: so
this matches thefuzz 0.19.0 with python-Levenshtein installed, and thefuzz >= 0.20 except for
underscores); it is about 3x faster, and on 100,000 pairs with typos it changed the "> 85"
decision for 12 of them (none on untypo'd word pairs).

Noun tagging
------------
The type factor compares nouns of the two product names. The original uses spaCy's
``en_core_web_sm`` and keeps tokens tagged NOUN or PROPN (its list also names 'PNOUN', which is
not a spaCy tag and never matches). spaCy is optional here: ``default_noun_tagger`` returns
``spacy_nouns`` when spaCy and that model can be loaded, else ``fallback_nouns``, a word-list
approximation documented on the function. Any ``str -> list[str]`` callable can be passed as
``nouns``.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import asdict, dataclass
from typing import Callable

from rapidfuzz import fuzz as _rapidfuzz

from environments.webshop.normalize import normalize_color

MATCH_THRESHOLD = 85
"""A fuzzy score must be strictly above this to count as a match."""

CATEGORY_SEPARATOR = "›"
SPACY_MODEL = "en_core_web_sm"
SPACY_NOUN_TAGS = frozenset({"NOUN", "PROPN", "PNOUN"})

NounTagger = Callable[[str], list[str]]


# --------------------------------------------------------------------------- fuzzy matching

_LATIN1_HIGH = dict.fromkeys(range(128, 256))  # thefuzz's force_ascii deletes exactly these
_NON_WORD = re.compile(r"\W")  # Unicode-aware, as thefuzz's (?ui)\W: underscores are kept


def full_process(value) -> str:
    """Clean a value the way thefuzz 0.19.0 does before token matching.

    Non-strings are turned into ``str(value)`` first (a (group, value) tuple becomes its repr,
    whose quotes, comma and brackets then turn into spaces).
    """
    text = value if isinstance(value, str) else str(value)
    text = text.translate(_LATIN1_HIGH)
    return _NON_WORD.sub(" ", text).lower().strip()


def _ratio_difflib(a: str, b: str) -> int:
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * difflib.SequenceMatcher(None, a, b).ratio()))


def _ratio_rapidfuzz(a: str, b: str) -> int:
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(_rapidfuzz.ratio(a, b)))


_RATIOS = {"difflib": _ratio_difflib, "rapidfuzz": _ratio_rapidfuzz}


def token_set_ratio(s1, s2, backend: str = "difflib") -> int:
    """thefuzz 0.19.0's ``token_set_ratio`` (0..100, an int); see the module notes on backends."""
    ratio = _RATIOS[backend]
    if s1 is None or s2 is None:
        return 0
    p1, p2 = full_process(s1), full_process(s2)
    if not p1 or not p2:
        return 0
    tokens1, tokens2 = set(p1.split()), set(p2.split())
    shared = " ".join(sorted(tokens1 & tokens2))
    only1 = " ".join(sorted(tokens1 - tokens2))
    only2 = " ".join(sorted(tokens2 - tokens1))
    with1 = f"{shared} {only1}".strip()
    with2 = f"{shared} {only2}".strip()
    return max(ratio(shared, with1), ratio(shared, with2), ratio(with1, with2))


def fuzzy_match(a, b, backend: str = "difflib") -> bool:
    return token_set_ratio(a, b, backend) > MATCH_THRESHOLD


# --------------------------------------------------------------------------- noun tagging

@functools.lru_cache(maxsize=1)
def _spacy_pipeline():
    import spacy

    return spacy.load(SPACY_MODEL)


@functools.lru_cache(maxsize=8192)
def _spacy_nouns_cached(text: str) -> tuple[str, ...]:
    return tuple(t.text.lower() for t in _spacy_pipeline()(text) if t.pos_ in SPACY_NOUN_TAGS)


def spacy_nouns(text: str) -> list[str]:
    """The original tagger: lowercased texts of tokens spaCy (en_core_web_sm) tags NOUN/PROPN.

    Duplicates are kept (the title score divides by their count). Raises ImportError/OSError
    when spaCy or the model is missing. Results are cached per text.
    """
    return list(_spacy_nouns_cached(text))


_STOPWORDS = frozenset("""
a an the this that these those each every any all both either neither some no not
and or but nor so yet if than then as
of for to in into on onto at by with without from up down out off over under about above below
between through per via plus vs versus against within upon along across after before around
i me my we us our you your he him his she her it its they them their who whom whose which what
is are was were be been being am do does did have has had can could will would shall should may
might must just also only very too more most less much many own same such other another
s t x w h d
""".split())

_ADJECTIVES = frozenset("""
new best great good better perfect premium professional pro deluxe luxury classic modern
vintage retro elegant cute cool fashion fashionable stylish casual formal simple basic
small large big mini little tiny huge extra super ultra high low long short tall wide narrow
thick thin slim soft hard heavy lightweight durable sturdy strong flexible comfortable
comfy breathable waterproof water resistant adjustable portable foldable reusable rechargeable
washable disposable compatible universal wireless cordless electric electronic digital
automatic manual organic natural fresh pure real original genuine authentic healthy
delicious sweet spicy fast quick easy free non anti double single multi multiple
full half hot cold warm dry wet clean clear bright dark light
black white red blue green yellow orange purple pink brown grey gray silver gold beige
unisex
""".split())

_UNITS = frozenset("""
oz ounce ounces fl lb lbs pound pounds g gram grams kg mg ml l liter liters litre litres
gallon gallons qt inch inches in ft feet foot cm mm m yard yards
pc pcs piece pieces pack packs count ct set sets pair pairs
""".split())

# A number, optionally glued to a short unit: "12", "3.5", "2pcs", "16oz", "4k", "1080p".
_NUMBERISH = re.compile(r"\d+(?:[.,]\d+)*(?:[a-z]{1,3})?")
# A dotted abbreviation ("d.o.n.") is one word, as spaCy keeps it; else runs of letters/digits.
_WORD = re.compile(r"(?:[^\W_]\.){2,}|[^\W_]+(?:'[^\W_]+)?")


def fallback_nouns(text: str) -> list[str]:
    """A dependency-free stand-in for ``spacy_nouns``: lowercased word tokens that look like nouns.

    Words are runs of letters/digits (an inner apostrophe is kept, as in "men's") or dotted
    abbreviations ("d.o.n."); every word is kept, duplicates included, except single characters,
    stopwords (determiners, prepositions, conjunctions,
    pronouns, auxiliaries), numbers and number+unit tokens ("12", "3.5", "16oz"), bare units
    ("oz", "pcs", "inch"), and a short list of common product-title adjectives and colours.

    How it can differ from spaCy: it knows no parts of speech, so verbs and adjectives outside
    its lists ("listed", "stainless") count as nouns, and words on its lists count as non-nouns
    even where spaCy tags them NOUN/PROPN (a colour that names the product, "light" in "Night
    Light"); spaCy also keeps some number-like codes as PROPN and splits differently around
    slashes, hyphens and apostrophes ("DVD/VCR", "Men's"), while this splits at every other
    non-letter.
    Title scores therefore agree with spaCy's only roughly.
    """
    nouns = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or word in _ADJECTIVES or word in _UNITS:
            continue
        if len(word) == 1 or _NUMBERISH.fullmatch(word):
            continue
        nouns.append(word)
    return nouns


@functools.lru_cache(maxsize=1)
def default_noun_tagger() -> NounTagger:
    """``spacy_nouns`` when spaCy and en_core_web_sm load, else ``fallback_nouns`` (cached)."""
    try:
        _spacy_pipeline()
    except (ImportError, OSError):
        return fallback_nouns
    return spacy_nouns


# --------------------------------------------------------------------------- reward terms

@dataclass(frozen=True)
class TypeReward:
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


def _categories(breadcrumb: str) -> set[str]:
    return {part.strip() for part in breadcrumb.split(CATEGORY_SEPARATOR)}


def type_reward(purchased_product: dict, goal: dict, nouns: NounTagger | None = None) -> TypeReward:
    """The type factor.

    title_score = |distinct nouns shared by the two names| / (number of nouns in the goal's name,
    duplicates counted), or 0.2 when the goal's name has no nouns. Then r_type starts at 1.0;
    it is 0.5 when neither the query, the categories (two or more shared breadcrumb parts) nor
    the title (title_score > 0.2) match; 0.1 when title_score < 0.1; and 0.0 when title_score is
    0 -- the last two apply even when the query or categories match.
    """
    tag = nouns or default_noun_tagger()
    query_match = purchased_product["query"] == goal["query"]
    shared_categories = _categories(purchased_product["product_category"]) & _categories(goal["product_category"])
    category_match = len(shared_categories) >= 2

    bought_nouns = tag(purchased_product["name"])
    wanted_nouns = tag(goal["name"])
    if wanted_nouns:
        title_score = len(set(bought_nouns) & set(wanted_nouns)) / len(wanted_nouns)
    else:
        title_score = 0.2

    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeReward(r_type, query_match, category_match, title_score)


def attribute_matches(purchased_product: dict, goal_attributes: list[str], backend: str = "difflib") -> int:
    """How many goal attributes the product has (fuzzy attribute, else a verbatim text hit).

    The verbatim test uses the goal attribute as given (not lowercased) against lowercased text.
    Bullet points are joined with spaces (as the original, even when they are one string).
    """
    product_attributes = purchased_product.get("Attributes") or []
    title = (purchased_product.get("Title") or "").lower()
    bullets = " ".join(purchased_product.get("BulletPoints") or []).lower()
    description = (purchased_product.get("Description") or "").lower()
    hits = 0
    for wanted in goal_attributes:
        if any(fuzzy_match(have, wanted, backend) for have in product_attributes):
            hits += 1
        elif wanted in title or wanted in bullets or wanted in description:
            hits += 1
    return hits


def _goal_option_items(goal_options) -> list:
    # A dict is compared through its (group, value) items, exactly as the original passes them.
    return list(goal_options.items()) if isinstance(goal_options, dict) else list(goal_options)


def option_matches(chosen_values, goal_options, backend: str = "difflib") -> int:
    """How many goal options are hit by some chosen value (both sides colour-normalised).

    For a dict goal each item is a (group, value) tuple: ``normalize_color`` maps it to a colour
    only when its value *is* a base colour, and otherwise the fuzzy score is taken on the
    tuple's text, i.e. "group value"; since token_set_ratio is 100 whenever one side's tokens
    are a subset of the other's, the group name rarely hurts.
    """
    chosen = [normalize_color(value) for value in chosen_values]
    hits = 0
    for wanted in (normalize_color(item) for item in _goal_option_items(goal_options)):
        if any(fuzzy_match(have, wanted, backend) for have in chosen):
            hits += 1
    return hits


@dataclass(frozen=True)
class RewardInfo:
    total: float
    r_type: float
    r_att: float | None
    """Fraction of goal attributes hit; None when the goal has none (the original divides by 0)."""
    r_option: float | None
    """Fraction of goal options hit; None when the goal has none."""
    r_price: bool | None
    """price <= price_upper; None when price_upper <= 0 (the original then fails on the sum;
    here the price term counts 0)."""
    query_match: bool
    category_match: bool
    title_score: float
    num_attr_matches: int
    num_option_matches: int
    num_attributes: int
    num_options: int

    @property
    def denominator(self) -> int:
        return self.num_attributes + self.num_options + 1

    @property
    def w_att(self) -> float:
        return self.num_attributes / self.denominator

    @property
    def w_option(self) -> float:
        return self.num_options / self.denominator

    @property
    def w_price(self) -> float:
        return 1 / self.denominator

    def as_dict(self) -> dict:
        return {**asdict(self), "w_att": self.w_att, "w_option": self.w_option, "w_price": self.w_price}


def reward(
    purchased_product: dict,
    goal: dict,
    price: float,
    options: dict,
    nouns: NounTagger | None = None,
    *,
    backend: str = "difflib",
) -> RewardInfo:
    """Score a purchase: ``options`` maps option group -> chosen value; ``price`` is what was paid.

    ``nouns`` tags product names for the type factor (default: ``default_noun_tagger()``);
    ``backend`` picks the fuzzy ratio (see the module notes).
    """
    kind = type_reward(purchased_product, goal, nouns)
    goal_attributes = list(goal["attributes"])
    goal_options = goal["goal_options"]
    num_attributes, num_options = len(goal_attributes), len(goal_options)

    price_upper = goal["price_upper"]
    r_price = (price <= price_upper) if price_upper > 0 else None
    num_attr = attribute_matches(purchased_product, goal_attributes, backend)
    num_opt = option_matches(list(options.values()), goal_options, backend)

    total = (num_attr + num_opt + bool(r_price)) / (num_attributes + num_options + 1)
    total *= kind.r_type
    return RewardInfo(
        total=total,
        r_type=kind.r_type,
        r_att=num_attr / num_attributes if num_attributes else None,
        r_option=num_opt / num_options if num_options else None,
        r_price=r_price,
        query_match=kind.query_match,
        category_match=kind.category_match,
        title_score=kind.title_score,
        num_attr_matches=num_attr,
        num_option_matches=num_opt,
        num_attributes=num_attributes,
        num_options=num_options,
    )
