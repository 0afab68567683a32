"""WebShop's purchase reward: every term, computed by hand."""

import importlib.util
from math import isclose

import pytest
from rapidfuzz import fuzz, utils

from environments.webshop.normalize import normalize_color
from environments.webshop.reward import (
    RewardInfo,
    attribute_matches,
    default_noun_tagger,
    fallback_nouns,
    full_process,
    fuzzy_match,
    option_matches,
    reward,
    spacy_nouns,
    token_set_ratio,
    type_reward,
)


def words(text):
    """Test tagger: every whitespace-separated word is a noun (duplicates kept)."""
    return text.lower().split()


# what a product and the goal made from it share
SAME_ITEM = {
    "asin": "B000TEST01",
    "category": "beauty",
    "query": "tea tree shampoo",
    "name": "tea tree shampoo bottle",
    "product_category": "Beauty & Personal Care › Hair Care › Shampoo",
}


def product(**overrides):
    base = {
        **SAME_ITEM,
        "Title": "",
        "Description": "",
        "BulletPoints": [],
        "Price": 12.0,
        "pricing": [12.0],
        "options": {},
        "Attributes": [],
    }
    return {**base, **overrides}


def goal(**overrides):
    base = {
        **SAME_ITEM,
        "instruction_text": "i want a tea tree shampoo",
        "attributes": [],
        "price_upper": 40.0,
        "goal_options": {},
        "weight": 1,
    }
    return {**base, **overrides}


# --------------------------------------------------------------------------- fuzzy parity


def test_token_set_ratio_follows_thefuzz_cleaning_and_rounding():
    # thefuzz lowercases and turns punctuation into spaces; plain rapidfuzz does neither.
    assert token_set_ratio("Tea-Tree!", "tea tree") == 100
    assert fuzz.token_set_ratio("Tea-Tree!", "tea tree") < 60
    assert fuzz.token_set_ratio("Tea-Tree!", "tea tree", processor=utils.default_process) == 100
    # 2 * 13 / 27 matching characters -> 96.3 -> 96
    assert token_set_ratio("Essential Oil", "essential oils") == 96
    # Tokens are a set and one side a subset: 100 whatever the rest.
    assert token_set_ratio("powder snow", "cool powder snow") == 100
    # thefuzz rounds to an int before "> 85": 40/47 = 85.1 is 85, not a match (rapidfuzz's raw
    # float would pass).
    short, longer = "abcdefghijklmnopqrst", "abcdefghijklmnopqrstuvwxyz1"
    assert token_set_ratio(short, longer) == 85
    assert not fuzzy_match(short, longer)
    assert fuzz.token_set_ratio(short, longer) > 85
    # Underscores are word characters for thefuzz 0.19 (rapidfuzz's default_process drops them).
    assert full_process("Sugar_Free!") == "sugar_free"
    assert token_set_ratio("sugar_free", "free sugar") == 50
    assert fuzz.token_set_ratio("sugar_free", "free sugar", processor=utils.default_process) == 100
    # thefuzz's force_ascii deletes U+0080..U+00FF.
    assert full_process("Café Crème") == "caf crme"
    # A (group, value) tuple is compared through its text.
    assert full_process(("size", "x-large")).split() == ["size", "x", "large"]
    assert token_set_ratio(None, "x") == 0 and token_set_ratio("!!", "x") == 0


@pytest.mark.parametrize("backend", ["difflib", "rapidfuzz"])
def test_backends_agree_on_plain_cases(backend):
    assert token_set_ratio("essential oil", "essential oils", backend) == 96
    assert token_set_ratio("tea bag", "tea tree", backend) == 60  # max(ratio("tea", "tea bag") = 6/10, ...)
    assert token_set_ratio(("color", "navy blue"), "blue", backend) == 100


# --------------------------------------------------------------------------- colour normalisation


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", ""),
        ("black forest", "black"),
        ("violet lavender", "lavender"),  # first in the alphabetical list wins
        ("steelivy fuchsia", "fuchsia"),
        ("123alabaster", "alabaster"),
        ("heather grey", "grey"),
        ("dark grey", "dark"),  # "dark" precedes "grey"
        ("navy blue", "blue"),
        ("webshop", "webshop"),
        ("Black", "Black"),  # case-sensitive
        (("color", "grey"), "grey"),  # tuple: element equality
        (("color", "navy blue"), ("color", "navy blue")),
    ],
)
def test_normalize_color(value, expected):
    assert normalize_color(value) == expected


# --------------------------------------------------------------------------- attributes


def test_attribute_matched_by_fuzzy_ratio():
    bought = product(Attributes=["Essential Oil", "tea tree"])
    assert attribute_matches(bought, ["essential oils"]) == 1  # 96 > 85
    assert attribute_matches(bought, ["tree tea"]) == 1  # token sets ignore order


@pytest.mark.parametrize(
    "field, text",
    [
        ("Title", "Tea Tree Shampoo with LONG LASTING scent"),
        ("BulletPoints", ["Gentle formula", "Long lasting scent"]),
        ("Description", "A shampoo whose scent is long lasting."),
    ],
)
def test_attribute_matched_only_by_substring(field, text):
    bought = product(Attributes=["paraben free"], **{field: text})
    assert token_set_ratio("paraben free", "long lasting") <= 85
    assert attribute_matches(bought, ["long lasting"]) == 1


def test_attribute_unmatched():
    bought = product(
        Attributes=["tea bag", "earl gray", "lipton"],
        Title="English tea for breakfast",
        BulletPoints=["Soothing aroma", "Calming, great feeling"],
        Description="Best tea made by Lipton",
    )
    assert attribute_matches(bought, ["tea tree", "essential oils", "natural ingredients"]) == 0
    # The goal attribute is not lowercased for the substring test.
    assert attribute_matches(product(Title="tea tree shampoo"), ["Tea Tree"]) == 0
    # A bullet-point *string* is joined character by character (the original's quirk).
    assert attribute_matches(product(BulletPoints="with essential oils"), ["essential oils"]) == 0


# --------------------------------------------------------------------------- options


def test_option_matched_after_colour_normalisation():
    # ("color", "grey") -> "grey"; "heather grey" -> "grey".
    assert option_matches(["heather grey"], {"color": "grey"}) == 1
    assert token_set_ratio("heather grey", ("color", "grey")) <= 85  # only normalising makes it match
    # A list goal: both "navy blue" and "light blue" become "blue".
    assert option_matches(["light blue"], ["navy blue"]) == 1
    # Unnormalised tuple: "size x large" vs "x large" is a token subset -> 100.
    assert option_matches(["x-large"], {"size": "x-large"}) == 1
    assert option_matches(["pack of 12", "powder snow", "xl"], ["cool powder snow", "XL", "pack of 12"]) == 3


def test_option_mismatch():
    assert option_matches(["small"], {"size": "large"}) == 0
    assert option_matches(["pack of 12", "blue", "xl"], ["grey", "xl", "pack of 12"]) == 2
    assert option_matches([], ["grey"]) == 0


# --------------------------------------------------------------------------- type factor


def test_type_query_match_rescues_a_weak_title():
    # 1 of 6 goal nouns shared: 0.1 <= 1/6 <= 0.2.
    wanted = goal(name="shampoo a b c d e", product_category="x › y")
    bought = product(name="shampoo z", product_category="p › q")
    result = type_reward(bought, wanted, words)
    assert result.query_match and not result.category_match
    assert isclose(result.title_score, 1 / 6)
    assert result.r_type == 1.0
    assert type_reward({**bought, "query": "other"}, wanted, words).r_type == 0.5


def test_type_category_match_needs_two_shared_parts():
    wanted = goal(name="shampoo a b c d e", product_category="Beauty › Hair Care › Shampoo")
    bought = product(query="other", name="shampoo z", product_category="Hair Care › Beauty › Conditioner")
    result = type_reward(bought, wanted, words)
    assert result.category_match and not result.query_match
    assert result.r_type == 1.0
    one_shared = {**bought, "product_category": "Beauty › Skin Care › Lotion"}
    assert not type_reward(one_shared, wanted, words).category_match
    assert type_reward(one_shared, wanted, words).r_type == 0.5
    # Repeated parts count once.
    assert not type_reward({**bought, "product_category": "Beauty › Beauty"}, wanted, words).category_match


def test_type_title_score_alone():
    wanted = goal(name="tea tree shampoo bottle a b", product_category="x")
    bought = product(query="other", product_category="y", name="shampoo bottle")
    result = type_reward(bought, wanted, words)
    assert isclose(result.title_score, 2 / 6) and result.r_type == 1.0
    # Exactly 0.2 is not a match (strictly greater is needed).
    result = type_reward(bought, {**wanted, "name": "shampoo a b c d"}, words)
    assert result.title_score == 0.2 and result.r_type == 0.5


def test_type_no_match_is_half():
    wanted = goal(name="shampoo a b c d e", product_category="x › y")
    bought = product(query="other", product_category="p › q", name="shampoo")
    result = type_reward(bought, wanted, words)
    assert (result.query_match, result.category_match) == (False, False)
    assert result.r_type == 0.5


def test_type_low_title_score_overrides_other_matches():
    # 1/11 < 0.1: 0.1 even though query and category match.
    wanted = goal(name="shampoo a b c d e f g h i j")
    result = type_reward(product(name="shampoo"), wanted, words)
    assert result.query_match and result.category_match
    assert isclose(result.title_score, 1 / 11) and result.r_type == 0.1
    # Nothing shared: 0.0.
    result = type_reward(product(name="conditioner"), wanted, words)
    assert result.title_score == 0.0 and result.r_type == 0.0


def test_type_goal_name_without_nouns_defaults_to_point_two():
    wanted = goal(name="", product_category="x")
    bought = product(query="other", product_category="y", name="anything at all")
    result = type_reward(bought, wanted, words)
    assert result.title_score == 0.2 and result.r_type == 0.5
    assert type_reward({**bought, "query": wanted["query"]}, wanted, words).r_type == 1.0


def test_title_score_counts_duplicate_goal_nouns():
    result = type_reward(product(name="bar"), goal(name="bar bar cord"), words)
    assert isclose(result.title_score, 1 / 3)


# --------------------------------------------------------------------------- price and total


def test_price_within_and_over_the_bound():
    wanted = goal(attributes=["tea tree"], price_upper=40.0)
    bought = product(Attributes=["tea tree"])
    assert reward(bought, wanted, 40.0, {}, words).r_price is True
    within = reward(bought, wanted, 35.0, {}, words)
    over = reward(bought, wanted, 40.01, {}, words)
    assert within.total == 1.0 and within.r_price is True
    assert over.r_price is False and over.total == 0.5  # (1 + 0) / (1 + 0 + 1)
    unbounded = reward(bought, {**wanted, "price_upper": 0}, 35.0, {}, words)
    assert unbounded.r_price is None and unbounded.total == 0.5


def test_goal_product_with_goal_options_scores_one():
    options = {"color": "heather grey", "size": "x-large"}
    bought = product(
        Attributes=["tea tree", "essential oil"],
        Description="made with natural ingredients",
        options={"color": ["heather grey", "black"], "size": ["large", "x-large"]},
    )
    wanted = goal(attributes=["tea tree", "essential oils", "natural ingredients"], goal_options=options)
    info = reward(bought, wanted, 12.0, options, words)
    assert isinstance(info, RewardInfo)
    assert info.total == 1.0
    assert (info.r_type, info.r_att, info.r_option, info.r_price) == (1.0, 1.0, 1.0, True)
    assert (info.num_attr_matches, info.num_option_matches) == (3, 2)
    assert isclose(info.w_att + info.w_option + info.w_price, 1.0)
    assert info.as_dict()["w_price"] == 1 / 6


def test_partial_total_by_hand():
    # 2 of 3 attributes, 1 of 2 options, price over, r_type 0.5: (2 + 1 + 0) / 6 * 0.5.
    bought = product(
        query="other",
        product_category="Kitchen › Tea",
        name="shampoo bar",
        Attributes=["tea tree"],
        Title="Shampoo bar with essential oils",
    )
    wanted = goal(
        name="shampoo a b c d e",
        attributes=["tea tree", "essential oils", "paraben free"],
        goal_options={"color": "grey", "size": "large"},
        price_upper=10.0,
    )
    info = reward(bought, wanted, 12.0, {"color": "slate grey", "size": "small"}, words)
    assert info.r_type == 0.5
    assert (info.num_attr_matches, info.num_option_matches, info.r_price) == (2, 1, False)
    assert isclose(info.total, 0.25)
    assert isclose(info.r_att, 2 / 3) and info.r_option == 0.5


def test_original_reward_sequence_with_fallback_tagger():
    # The original's get_reward walk-through; its spaCy title score 0.15 and ours both give 0.5.
    name = "Mens D.O.N. Issue 2 Gca Basketball Sneakers Shoes Casual - Off White"
    wanted = goal(
        query="Query 1", product_category="a › b › c", name=name,
        attributes=["tea tree", "essential oils", "natural ingredients"],
        goal_options={"color": "grey", "size": "XL"}, price_upper=40.0,
    )
    bought = product(
        query="Query 1", product_category="a › b › c", name=name,
        Attributes=["tea tree", "essential oil", "natural ingredients"],
    )
    options = {"color": "grey", "size": "XL"}
    assert reward(bought, wanted, 35, options, fallback_nouns).total == 1
    bought.update(Attributes=[], BulletPoints="This shampoo has essential oils and smells like lemons",
                  Description="Best shampoo on the market, made with natural ingredients")
    assert isclose(reward(bought, wanted, 35, options, fallback_nouns).total, 4 / 6)
    wanted["goal_options"] = {"color": "grey", "size": "XL", "amount": "pack of 12"}
    assert isclose(reward(bought, wanted, 35, options, fallback_nouns).total, 4 / 7)
    wanted["name"] = "Saireed UL Listed 2 Prong Power Cord for JBL Bar 3.1 Bar 2.1 Channel 4K Ultra HD Soundbar"
    bought.update(query="Query 2", product_category="a › d › e",
                  name="BRST AC Power Cord Outlet Socket Cable Plug Lead for Panasonic SC-HT830V DVD/VCR "
                       "Combo Home Theater System")
    info = reward(bought, wanted, 35, options, fallback_nouns)
    assert isclose(info.title_score, 2 / 12) and info.r_type == 0.5
    assert isclose(info.total, 4 / 7 / 2)


# --------------------------------------------------------------------------- noun taggers


def test_fallback_nouns_on_titles():
    assert fallback_nouns("Mens D.O.N. Issue 2 Gca Basketball Sneakers Shoes Casual - Off White") == [
        "mens", "d.o.n.", "issue", "gca", "basketball", "sneakers", "shoes",
    ]
    assert fallback_nouns("Minkissy 2pcs Stainless Steel Eyebrow Tweezers (Silver) for 12 oz Bottles") == [
        "minkissy", "stainless", "steel", "eyebrow", "tweezers", "bottles",
    ]
    assert fallback_nouns("the new and improved") == ["improved"]
    assert fallback_nouns("") == []


def test_default_noun_tagger_is_cached_and_optional():
    tagger = default_noun_tagger()
    assert tagger is default_noun_tagger()
    if importlib.util.find_spec("spacy") is None:
        assert tagger is fallback_nouns
    else:
        assert tagger in (spacy_nouns, fallback_nouns)
    # reward() uses it when no tagger is given.
    wanted = goal(attributes=["tea tree"])
    assert reward(product(Attributes=["tea tree"]), wanted, 1.0, {}).total == 1.0
