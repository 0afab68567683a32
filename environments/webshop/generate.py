"""A synthetic WebShop catalog written in the real data files' schema.

``generate_catalog(folder, num_products, seed)`` writes

- items_shuffle.json: a JSON array of raw product records, as scraped: asin ("B0" + 8
  characters), name, full_description, small_description (bullet points), pricing ("$12.99",
  or "$10.99$24.99" for a range), customization_options ({"Color": [{"value": "Navy Blue",
  "image": ...}], ...} or null), product_category ("Beauty & Personal Care › Hair Care › ..."),
  category (beauty, food, fashion, furniture, electronics), query (the search that found it),
  images, brand;
- items_ins_v2.json: asin -> {"attributes", "instruction", "instruction_attributes"} (the
  product's attributes and a synthetic instruction naming some of them);
- items_human_ins.json: asin -> a list of instructions in the crowd-written style, each with
  the attributes and option values it asks for.

Products come from per-category product types (a noun that also appears in the title, a
breadcrumb, attribute pools, option groups, a price band), brands and descriptors; their text
mentions their attributes, and an instruction's options are one value of each of the product's
option groups. These word tables are data files shipped with the package (``load_table``).
The same seed gives the same files. Writing is streamed (records are not held)
and items_shuffle.json is written last, under a temporary name then renamed, so its presence
means the catalog is complete.
"""

from __future__ import annotations

import json
import os
import random
from importlib import resources
from pathlib import Path

_ACRONYMS = {"usb": "USB", "hdmi": "HDMI", "tv": "TV"}


def load_table(name: str):
    """The word table data/<name>.json shipped with this package: option_values (the value
    pools of option groups, as a product page shows them: the loader lowercases them, "/" ->
    " | "), product_types (each naming its option groups' pools), words (category
    breadcrumbs and attributes, brand parts) or templates (sentences with {placeholders})."""
    return json.loads((resources.files(__package__) / "data" / f"{name}.json").read_text(encoding="utf-8"))


def _product_types() -> list[dict]:
    """The product types, each with its option groups as (group name, value pool) and its
    noun as a title shows it."""
    pools = load_table("option_values")
    kinds = []
    for kind in load_table("product_types"):
        title = " ".join(_ACRONYMS.get(w, w.title()) for w in kind["noun"].split())
        groups = [(name, pools[pool]) for name, pool in kind["groups"]]
        kinds.append({"plural": False, "mass": False, "gendered": False, **kind, "title": title, "groups": groups,
                      "price": tuple(kind["price"])})
    return kinds


_WORDS, _TEMPLATES = load_table("words"), load_table("templates")
CATEGORY_ROOTS: dict[str, str] = _WORDS["category_roots"]
CATEGORY_ATTRIBUTES: dict[str, list[str]] = _WORDS["category_attributes"]
BRAND_HEADS: list[str] = _WORDS["brand_heads"]
BRAND_TAILS: dict[str, list[str]] = _WORDS["brand_tails"]
PRODUCT_TYPES = _product_types()
OPTION_PHRASES: dict[str, list[str]] = _TEMPLATES["option_phrases"]
"""How a human instruction names a value of each option group."""
# Attributes are adjectives ("non slip") or noun phrases ("arch support"), so the templates
# around them work for both; {is} agrees with the noun.
DESCRIPTION_OPENERS: list[str] = _TEMPLATES["description_openers"]
DESCRIPTION_SENTENCES: list[str] = _TEMPLATES["description_sentences"]
BULLET_TEXTS: list[str] = _TEMPLATES["bullet_texts"]
BULLET_EXTRAS: list[str] = _TEMPLATES["bullet_extras"]
SYNTHETIC_TEMPLATES: list[str] = _TEMPLATES["synthetic_templates"]
HUMAN_OPENERS: list[str] = _TEMPLATES["human_openers"]
HUMAN_BODIES: list[str] = _TEMPLATES["human_bodies"]

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_VOWELS = frozenset("aeiou")
_CENTS = (0.99, 0.99, 0.95, 0.49, 0.0, 0.97)
FILE_NAMES = ("items_shuffle.json", "items_ins_v2.json", "items_human_ins.json")


def _article(next_word: str, plural: bool) -> str:
    if plural:
        return ""
    if next_word.startswith(("usb", "uni", "use", "one")):
        return "a "
    if next_word.startswith(("hdmi", "hour")):
        return "an "
    return "an " if next_word[:1] in _VOWELS else "a "


def _join_and(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _money(x: float) -> str:
    return f"${x:,.2f}"


class _Maker:
    """Draws products and their instructions from one seeded RNG (uniform draws through
    ``random()``, which keeps 100k products to a few seconds)."""

    def __init__(self, seed: int):
        self.rnd = random.Random(seed).random
        self.asins: set[str] = set()
        self.brands = {c: [h + t for h in BRAND_HEADS for t in tails] for c, tails in BRAND_TAILS.items()}

    def pick(self, seq):
        return seq[int(self.rnd() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        return lo + int(self.rnd() * (hi - lo + 1))

    def sample(self, seq, k: int) -> list:
        """k distinct elements, in draw order (a partial Fisher-Yates shuffle)."""
        pool, rnd, n = list(seq), self.rnd, len(seq)
        for i in range(k):
            j = i + int(rnd() * (n - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def weighted(self, values, cumulative):
        x = self.rnd() * cumulative[-1]
        for v, c in zip(values, cumulative):
            if x < c:
                return v
        return values[-1]

    def asin(self) -> str:
        rnd = self.rnd
        while True:
            asin = "B0" + "".join([_ALNUM[int(rnd() * 36)] for _ in range(8)])
            if asin not in self.asins:
                self.asins.add(asin)
                return asin

    def price(self, lo: float, hi: float) -> float:
        value = self.between(int(lo), int(hi)) + self.pick(_CENTS)
        return value if value > 0 else 0.99

    def product(self):
        rnd, pick, sample = self.rnd, self.pick, self.sample
        kind = pick(PRODUCT_TYPES)
        category, noun = kind["category"], kind["noun"]
        plural = kind["plural"] or kind["mass"]  # no article
        verb = "are" if kind["plural"] else "is"
        asin = self.asin()
        brand = pick(self.brands[category])
        word = pick(kind["words"])
        own = kind["attributes"]
        attributes = sample(own, self.between(1, min(3, len(own))))
        attributes += [a for a in sample(CATEGORY_ATTRIBUTES[category], self.between(0, 2)) if a not in attributes]
        attributes = sample(attributes, len(attributes))

        # option groups: 0-2 of the type's groups, each with 2-6 values
        groups = kind["groups"]
        n_groups = min(self.weighted((0, 1, 2), (20, 65, 100)), len(groups))
        options = {}
        for name, values in sample(groups, n_groups):
            chosen = sample(values, self.between(2, min(6, len(values))))
            if name != "Color":
                chosen.sort(key=values.index)  # sizes and the like in their natural order
            options[name] = chosen

        gender = ""
        path = kind["path"]
        if kind["gendered"]:
            gender = "Men" if rnd() < 0.5 else "Women"
            path = f"{gender} › {path}"
        product_category = f"{CATEGORY_ROOTS[category]} › {path}"

        # title: brand, descriptor, maybe attributes, the noun, a detail
        title_attrs = [a.title() for a in attributes[: self.between(0, 2)]]
        parts = [brand, f"{gender}'s", word] if gender else [brand, word]
        parts += title_attrs[:1]
        parts.append(kind["title"])
        title = " ".join(parts)
        tail = title_attrs[1:]
        if options and rnd() < 0.5:
            tail.append(next(iter(options.values()))[0])
        if tail:
            title += ", " + ", ".join(tail)

        # description and bullets mention the attributes
        opener = pick(DESCRIPTION_OPENERS)
        article = _article(noun if "{article}{noun}" in opener else word.lower(), plural)
        sentences = [opener.format(brand=brand, noun=noun, word=word.lower(), article=article, **{"is": verb})]
        for template in sample(DESCRIPTION_SENTENCES, 3):
            if len(attributes) > 1:
                a1, a2 = sample(attributes, 2)
            else:
                a1, a2 = attributes[0], pick(CATEGORY_ATTRIBUTES[category])
            if a1 == a2:
                a2 = "everyday comfort"
            sentences.append(template.format(a1=a1, a2=a2))
        description = " ".join(sentences)
        bullets = [pick(BULLET_TEXTS).format(A=a.upper(), a=a, noun=noun, **{"is": verb}) for a in attributes[:4]]
        bullets.append(pick(BULLET_EXTRAS).format(noun=noun))

        # pricing: one price, a range (mostly with options), rarely none
        lo, hi = kind["price"]
        r = rnd()
        if r < 0.01:
            pricing = ""
        elif options and r < 0.35:
            a, b = sorted((self.price(lo, hi), self.price(lo, hi)))
            if a == b:
                b = a + 5.0
            pricing = _money(a) + _money(b)
        else:
            pricing = _money(self.price(lo, hi))

        custom = None
        if options:
            custom = {
                name: [{"value": v, "image": (f"https://m.media-amazon.com/images/I/41{asin[2:7]}{i:02d}.jpg"
                                              if name == "Color" else None)} for i, v in enumerate(values)]
                for name, values in options.items()
            }
        raw = {
            "asin": asin,
            "name": title,
            "full_description": description,
            "small_description": bullets,
            "pricing": pricing,
            "images": [f"https://m.media-amazon.com/images/I/51{asin[2:]}L._SL1000_.jpg"],
            "product_category": product_category,
            "brand": brand,
            "customization_options": custom,
            "category": category,
            "query": kind["query"],
        }

        # synthetic instruction (items_ins_v2) naming 1-3 of the attributes
        ins_attrs = sample(attributes, self.between(1, min(3, len(attributes))))
        template = pick(SYNTHETIC_TEMPLATES)
        first = ins_attrs[0] if "{article}{attrs}" in template else noun
        synthetic = template.format(article=_article(first, plural), attrs=" ".join(ins_attrs), noun=noun,
                                    attrs_and=_join_and(ins_attrs), **{"is": verb})
        ins_v2 = {"attributes": attributes, "instruction": synthetic, "instruction_attributes": ins_attrs}

        # human instructions: 0-2, each asking for attributes and one value per option group
        n_human = self.weighted((0, 1, 2), (25, 80, 100))
        human = [self.human_instruction(asin, noun, plural, verb, attributes, options) for _ in range(n_human)]
        return raw, ins_v2, human

    def human_instruction(self, asin, noun, plural, verb, attributes, options) -> dict:
        rnd, pick = self.rnd, self.pick
        if rnd() < 0.03:  # a few name no attribute (the goal builder skips them)
            ins_attrs = []
        else:
            ins_attrs = self.sample(attributes, self.between(1, min(2, len(attributes))))
        names = list(options)
        if len(names) > 1 and rnd() < 0.1:
            names = [pick(names)]
        picked = {n: pick(options[n]) for n in names}
        values = {n: v.strip().replace("/", " | ").lower() for n, v in picked.items()}
        opts = "".join(pick(OPTION_PHRASES[n]).format(v=v.lower()) for n, v in picked.items())
        body = pick(HUMAN_BODIES) if ins_attrs else "{article}{noun}{opts}"
        first = ins_attrs[0] if body.startswith("{article}{attrs}") else noun
        text = pick(HUMAN_OPENERS) + " " + body.format(
            article=_article(first, plural), attrs=" ".join(ins_attrs), noun=noun,
            attrs_and=_join_and(ins_attrs) if ins_attrs else "", opts=opts, **{"is": verb})
        if rnd() < 0.2:
            text += "."
        return {
            "asin": asin,
            "instruction": text,
            "attributes": attributes,
            "options": [f"{n.lower()}: {v}" for n, v in values.items()],
            "instruction_attributes": ins_attrs,
            "instruction_options": list(values.values()),
            "assignment_id": f"{asin}{int(rnd() * 16 ** 6):06X}",
            "worker_id": f"W{int(rnd() * 10 ** 6):06d}",
        }


def generate_catalog(folder, num_products: int = 1000, seed: int = 0) -> dict[str, Path]:
    """Write items_shuffle.json, items_ins_v2.json and items_human_ins.json for ``num_products``
    generated products into ``folder``; return {"items_shuffle": path, "items_ins_v2": path,
    "items_human_ins": path}."""
    if isinstance(num_products, bool) or not isinstance(num_products, int) or num_products < 1:
        raise ValueError(f"num_products must be a positive integer, got {num_products!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name.removesuffix(".json"): folder / name for name in FILE_NAMES}
    tmp = {k: p.with_name(f".{p.name}.{os.getpid()}.tmp") for k, p in paths.items()}
    maker = _Maker(seed)
    encode = json.JSONEncoder(ensure_ascii=False).encode
    try:
        with open(tmp["items_shuffle"], "w", encoding="utf-8") as items, \
                open(tmp["items_ins_v2"], "w", encoding="utf-8") as ins, \
                open(tmp["items_human_ins"], "w", encoding="utf-8") as human:
            chunks = {"items": ["["], "ins": ["{"], "human": ["{"]}
            first_human = True
            for i in range(num_products):
                raw, ins_v2, human_list = maker.product()
                sep = "\n" if i == 0 else ",\n"
                asin = raw["asin"]
                chunks["items"].append(sep + encode(raw))
                chunks["ins"].append(f'{sep}"{asin}": {encode(ins_v2)}')
                if human_list:
                    chunks["human"].append(f'{"" if first_human else ","}\n"{asin}": {encode(human_list)}')
                    first_human = False
                if i % 2000 == 1999:
                    for f, key in ((items, "items"), (ins, "ins"), (human, "human")):
                        f.write("".join(chunks[key]))
                        chunks[key].clear()
            chunks["items"].append("\n]\n")
            chunks["ins"].append("\n}\n")
            chunks["human"].append("\n}\n")
            for f, key in ((items, "items"), (ins, "ins"), (human, "human")):
                f.write("".join(chunks[key]))
        # items_shuffle.json last: its presence marks a complete catalog
        for key in ("items_ins_v2", "items_human_ins", "items_shuffle"):
            os.replace(tmp[key], paths[key])
    finally:
        for p in tmp.values():
            if p.exists():
                p.unlink()
    return paths
