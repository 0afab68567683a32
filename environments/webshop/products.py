"""WebShop's products and prices, read from files in the real data's schema.

The three files (the real ones or ``generate.py``'s):

- items_shuffle.json: a JSON array of raw product records (asin, name, full_description,
  small_description, pricing, customization_options, images, category, query,
  product_category, ...), already shuffled, so the first N records are "the N-product set".
  It holds 1.18M records (several GB), so it is streamed with ijson and reading stops after
  the first ``num_products`` records.
- items_ins_v2.json: asin -> {"attributes": [...], "instruction": ..., "instruction_attributes": [...]}
  (the product's mined attributes and its synthetic instruction).
- items_human_ins.json: asin -> [{"instruction": ..., "instruction_attributes": [...],
  "instruction_options": [...], ...}, ...] (instructions written by crowd workers).

What carries over from the original engine, as facts of the benchmark:

- skipping: a record whose asin is "nan" or longer than 10 characters is dropped, and so is a
  repeated asin (the first one wins); ``num_products`` counts raw records, as the original
  slices the list before skipping;
- the price tag: "$" + each number of ``pricing`` split on "$" (digits and dots kept), so
  "$12.99" -> [12.99] and "$12.99", "$10.99$24.99" -> [10.99, 24.99] and "$10.99 to $24.99";
  no pricing -> [100.0] and "$100.0";
- options: group names lowercased, values stripped, lowercased, "/" -> " | ";
- Attributes: items_ins_v2's list, or ["DUMMY_ATTR"] when the product has none;
- a product's price: its single price, or uniform between the two ends of a range (the
  original draws from the unseeded global ``random``; ``product_prices`` takes a seed).

The goals built from these products are in ``goals.py``.
"""

from __future__ import annotations

import gc
import itertools
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import ijson

DUMMY_ATTR = "DUMMY_ATTR"
NO_PRICE = 100.0
# items_ins_v2.json / items_human_ins.json up to this size are parsed whole (fast); larger ones
# (the full items_ins_v2.json) are streamed so only the loaded products' entries are kept.
WHOLE_FILE_BYTES = 64 << 20

# Keys a raw record must have once its asin is kept (pricing may be absent: then $100.0).
REQUIRED_ITEM_KEYS = (
    "asin", "name", "full_description", "small_description", "customization_options",
    "images", "category", "query", "product_category",
)
HUMAN_INSTRUCTION_KEYS = ("instruction", "instruction_attributes", "instruction_options")
_NOT_PRICE_CHARS = re.compile(r"[^\d.]")


@dataclass
class Catalog:
    """The loaded products (in file order), by asin, and the asins of each attribute."""

    products: list[dict]
    by_asin: dict[str, dict]
    attribute_to_asins: defaultdict = field(default_factory=lambda: defaultdict(set))
    """attribute -> set of asins (a defaultdict(set), as the original's search uses it)."""
    records_read: int = 0
    """Raw records read from items_shuffle.json (kept and skipped)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Why raw records were dropped: "bad_asin" and "duplicate" counts."""

    def __len__(self) -> int:
        return len(self.products)


class CatalogError(ValueError):
    """A data file that does not follow the WebShop schema."""


def _check_opens_with(path: Path, opener: bytes) -> None:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if not head.startswith(opener):
        kind = "an array" if opener == b"[" else "an object"
        raise CatalogError(f"{path}: expected a JSON file holding {kind} ({opener.decode()!r} ...), "
                           f"found {head[:40]!r}")


def _stream(path: Path, prefix: str, kv: bool):
    """Yield the records of a JSON array (or the (key, value) pairs of an object), numbers as
    floats, turning a parse error into a CatalogError that says where it happened."""
    _check_opens_with(path, b"{" if kv else b"[")
    with open(path, "rb") as f:
        reader = ijson.kvitems(f, prefix, use_float=True) if kv else ijson.items(f, prefix, use_float=True)
        index = -1
        try:
            for index, record in enumerate(reader):
                yield record
        except ijson.JSONError as e:
            where = "before the first record" if index < 0 else f"after record {index} (records 0-{index} were read)"
            raise CatalogError(f"{path}: malformed JSON {where}: {str(e).strip()}") from e


def parse_pricing(pricing) -> tuple[list[float], str]:
    """The raw pricing string -> (pricing numbers, price tag), as the original engine reads it."""
    if pricing is None or not pricing:
        return [NO_PRICE], f"${NO_PRICE}"
    if not isinstance(pricing, str):
        raise ValueError(f"pricing must be a string such as '$12.99' or '$10.99$24.99', got {pricing!r}")
    try:
        numbers = [float(Decimal(_NOT_PRICE_CHARS.sub("", part))) for part in pricing.split("$")[1:]]
    except InvalidOperation:
        raise ValueError(f"pricing {pricing!r} has a '$' not followed by a number") from None
    if not numbers:
        raise ValueError(f"pricing {pricing!r} has no '$' price in it")
    if len(numbers) == 1:
        return numbers, f"${numbers[0]}"
    return numbers[:2], f"${numbers[0]} to ${numbers[1]}"


def parse_options(customization_options) -> tuple[dict[str, list[str]], dict[str, object]]:
    """Raw customization_options -> ({group: [values]}, {value: image}), lowercased, '/' -> ' | '."""
    options, option_to_image = {}, {}
    if not customization_options:
        return options, option_to_image
    if not isinstance(customization_options, dict):
        raise ValueError(f"customization_options must be an object or null, got {type(customization_options).__name__}")
    for name, contents in customization_options.items():
        if contents is None:
            continue
        values = []
        for content in contents:
            if not isinstance(content, dict) or not isinstance(content.get("value"), str):
                raise ValueError(f"customization_options[{name!r}]: each entry needs a string 'value', got {content!r}")
            value = content["value"].strip().replace("/", " | ").lower()
            values.append(value)
            option_to_image[value] = content.get("image")
        options[name.lower()] = values
    return options, option_to_image


def _product(raw: dict, attributes: dict, human: dict | None, human_goals: bool) -> dict:
    asin = raw["asin"]
    pricing, price_tag = parse_pricing(raw.get("pricing"))
    options, option_to_image = parse_options(raw["customization_options"])
    bullets = raw["small_description"]
    if bullets is None:
        bullets = []
    elif not isinstance(bullets, list):
        bullets = [bullets]
    images = raw["images"]
    if not isinstance(images, list) or not images:
        raise ValueError(f"images must be a non-empty list, got {images!r}")
    entry = attributes.get(asin)
    product = {
        "asin": asin,
        "name": raw["name"],
        "category": raw["category"],
        "query": raw["query"].lower().strip(),
        "product_category": raw["product_category"],
        "Title": raw["name"],
        "Description": raw["full_description"],
        "BulletPoints": bullets,
        "Price": price_tag,
        "pricing": pricing,
        "options": options,
        "option_to_image": option_to_image,
        "Attributes": entry["attributes"] if entry is not None and "attributes" in entry else [DUMMY_ATTR],
        "Reviews": [],
        "Rating": "N.A.",
        "MainImage": images[0],
    }
    if human_goals:
        if asin in human:
            product["instructions"] = human[asin]
    else:
        # The original looks the asin up unguarded; a product without an entry simply gets no
        # instruction (and so no synthetic goal) here.
        product["instruction_text"] = entry.get("instruction") if entry is not None else None
        product["instruction_attributes"] = entry.get("instruction_attributes") if entry is not None else None
    return product


def _read_keyed(path: Path, wanted: set[str], check) -> dict:
    """asin -> value for the wanted asins of a JSON object file: parsed whole when small (the
    fast path), streamed when large (the full items_ins_v2.json), keeping only what is wanted."""
    if path.stat().st_size <= WHOLE_FILE_BYTES:
        with open(path, "rb") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise CatalogError(f"{path}: malformed JSON: {e}") from e
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: expected a JSON object keyed by asin, found {type(data).__name__}")
        pairs = ((asin, data[asin]) for asin in wanted if asin in data)
    else:
        pairs = _stream(path, "", kv=True)
    found = {}
    for asin, value in pairs:
        if asin in wanted:
            problem = check(value)
            if problem:
                raise CatalogError(f"{path}: entry {asin!r}: {problem}")
            found[asin] = value
    return found


def _check_attributes_entry(value) -> str | None:
    if not isinstance(value, dict):
        return ("expected an object with 'attributes', 'instruction', 'instruction_attributes', "
                f"got {type(value).__name__}")
    if "attributes" in value and not isinstance(value["attributes"], list):
        return f"'attributes' must be a list, got {value['attributes']!r}"
    return None


def _check_human_entry(value) -> str | None:
    if not isinstance(value, list):
        return f"expected a list of instructions, got {type(value).__name__}"
    for j, ins in enumerate(value):
        if not isinstance(ins, dict):
            return f"instruction {j}: expected an object, got {type(ins).__name__}"
        missing = [k for k in HUMAN_INSTRUCTION_KEYS if k not in ins]
        if missing:
            return f"instruction {j}: missing key(s) {missing}"
    return None


def load_products(items_path, attributes_path, human_instructions_path=None, num_products: int | None = None,
                  human_goals: bool = True) -> Catalog:
    """Load the catalog as the original engine does, streaming items_shuffle.json.

    items_path: items_shuffle.json (or a file in its schema); attributes_path: items_ins_v2.json;
    human_instructions_path: items_human_ins.json, needed when ``human_goals`` (products then
    carry ``instructions``; otherwise ``instruction_text`` and ``instruction_attributes``).
    num_products: read only the first N raw records (None: all).
    """
    if num_products is not None and (isinstance(num_products, bool) or not isinstance(num_products, int)
                                     or num_products < 1):
        raise ValueError(f"num_products must be a positive integer or None, got {num_products!r}")
    items_path, attributes_path = Path(items_path), Path(attributes_path)
    if human_goals and human_instructions_path is None:
        raise ValueError("human_goals=True needs human_instructions_path (items_human_ins.json)")
    paths = [items_path, attributes_path] + ([Path(human_instructions_path)] if human_goals else [])
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"WebShop data file not found: {path}")

    # Millions of small dicts: the cyclic GC's repeated passes over them would dominate.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(items_path, attributes_path, human_instructions_path, num_products, human_goals)
    finally:
        if gc_was_enabled:
            gc.enable()


def _load(items_path: Path, attributes_path: Path, human_instructions_path, num_products, human_goals) -> Catalog:
    kept: list[tuple[int, dict]] = []
    seen: set[str] = set()
    skipped = {"bad_asin": 0, "duplicate": 0}
    stream = _stream(items_path, "item", kv=False)
    records = stream if num_products is None else itertools.islice(stream, num_products)
    count = 0
    for index, raw in enumerate(records):
        count += 1
        if not isinstance(raw, dict):
            raise CatalogError(f"{items_path}: item {index}: expected an object, got {type(raw).__name__}")
        asin = raw.get("asin")
        if not isinstance(asin, str):
            raise CatalogError(f"{items_path}: item {index}: 'asin' must be a string, got {asin!r}")
        if asin == "nan" or len(asin) > 10:
            skipped["bad_asin"] += 1
            continue
        if asin in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(asin)
        missing = [k for k in REQUIRED_ITEM_KEYS if k not in raw]
        if missing:
            raise CatalogError(f"{items_path}: item {index} (asin {asin}): missing key(s) {missing}")
        kept.append((index, {k: raw[k] for k in REQUIRED_ITEM_KEYS} | {"pricing": raw.get("pricing")}))
    stream.close()  # stop reading: the stream's generator closes the file

    attributes = _read_keyed(attributes_path, seen, _check_attributes_entry)
    human = _read_keyed(Path(human_instructions_path), seen, _check_human_entry) if human_goals else None

    products = []
    for k, (index, raw) in enumerate(kept):
        kept[k] = None  # the raw record goes as its product comes
        try:
            products.append(_product(raw, attributes, human, human_goals))
        except (ValueError, TypeError, AttributeError) as e:
            raise CatalogError(f"{items_path}: item {index} (asin {raw['asin']}): {e}") from e

    attribute_to_asins = defaultdict(set)
    for p in products:
        for a in p["Attributes"]:
            attribute_to_asins[a].add(p["asin"])
    return Catalog(products=products, by_asin={p["asin"]: p for p in products},
                   attribute_to_asins=attribute_to_asins, records_read=count, skipped=skipped)


def product_prices(products, seed: int = 0) -> dict[str, float]:
    """asin -> the price a purchase pays: the single price, or uniform in the range (seeded)."""
    rng = random.Random(f"webshop-prices-{seed}")
    prices = {}
    for product in getattr(products, "products", products):
        pricing = product["pricing"]
        if not pricing:
            price = NO_PRICE
        elif len(pricing) == 1:
            price = pricing[0]
        else:
            price = rng.uniform(*pricing[:2])
        prices[product["asin"]] = price
    return prices
