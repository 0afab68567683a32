"""Colour normalisation of option values, as WebShop's reward applies it.

Before option values are compared, each one is replaced by the first base colour name (in the
alphabetical list below) that occurs in it, so "navy blue" and "light blue" both become "blue",
and "123alabaster" becomes "alabaster". A value with no base colour in it is kept as it is.

The test is Python's ``in``: a plain substring test for a string. The original reward also hands
(group, value) tuples to this function when a goal's options are a dict; for a tuple ``in`` is an
element-equality test, so ``("color", "grey")`` becomes "grey" but ``("color", "navy blue")`` stays
a tuple. ``normalize_color`` keeps exactly that behaviour, so the reward stays faithful.
"""

from __future__ import annotations

# Base colour names (the original's list: a fact of the benchmark, kept in the same order, which
# matters because the first hit wins).
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure",
    "banana", "beige", "black", "blue", "blush", "bordeaux", "bronze",
    "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee",
    "cognac", "copper", "coral", "cranberry", "cream", "crystal", "dark",
    "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite",
    "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac",
    "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha",
    "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive",
    "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow", "red",
    "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal",
    "tiger", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)


def normalize_color(value):
    """The first base colour contained in ``value`` (case-sensitive), else ``value`` unchanged.

    ``value`` is normally a string; a tuple (how the original passes a dict goal's items) is
    matched by element equality, as ``in`` does for tuples.
    """
    for base in COLOR_SET:
        if base in value:
            return base
    return value
