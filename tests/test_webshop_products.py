"""WebShop catalog files: the generator's schema, the loader, prices, goals and splits."""

import json
import random
import re

import pytest

from environments.webshop.generate import CATEGORY_ROOTS, PRODUCT_TYPES, generate_catalog
from environments.webshop.goals import PRICE_RANGE, human_goals, split_goals, split_range, synthetic_goals
from environments.webshop.products import CatalogError, load_products, product_prices

PRODUCT_KEYS = {"asin", "category", "query", "name", "product_category", "Title", "Description", "BulletPoints",
                "Price", "pricing", "options", "option_to_image", "Attributes", "Reviews", "Rating", "MainImage"}
GOAL_KEYS = ["asin", "category", "query", "name", "product_category", "instruction_text", "attributes",
             "price_upper", "goal_options", "weight"]
SUFFIX = re.compile(r", and price lower than (\d+\.\d\d) dollars$")
PRICE_TAG = re.compile(r"^\$\d+\.\d+( to \$\d+\.\d+)?$")


@pytest.fixture(scope="module")
def catalog_files(tmp_path_factory):
    return generate_catalog(tmp_path_factory.mktemp("catalog"), num_products=300, seed=7)


def _load(paths, **kwargs):
    return load_products(paths["items_shuffle"], paths["items_ins_v2"], paths["items_human_ins"], **kwargs)


def _raw(asin, **changes):
    item = {"asin": asin, "name": f"Acme Sofa {asin}", "full_description": "A soft sofa.",
            "small_description": ["SOFT: very soft."], "pricing": "$12.99", "images": ["http://img/1.jpg"],
            "product_category": "Home & Kitchen › Furniture › Sofas", "category": "furniture", "query": "sofa",
            "customization_options": None}
    item.update(changes)
    return item


def _write(folder, items, attributes=None, human=None, items_text=None):
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"items_shuffle": folder / "items_shuffle.json", "items_ins_v2": folder / "items_ins_v2.json",
             "items_human_ins": folder / "items_human_ins.json"}
    paths["items_shuffle"].write_text(items_text if items_text is not None else json.dumps(items))
    paths["items_ins_v2"].write_text(json.dumps(attributes or {}))
    paths["items_human_ins"].write_text(json.dumps(human or {}))
    return paths


# --- the generated files ---------------------------------------------------------------------

def test_generated_files_follow_the_real_schema(catalog_files):
    items = json.loads(catalog_files["items_shuffle"].read_text())
    ins_v2 = json.loads(catalog_files["items_ins_v2"].read_text())
    human = json.loads(catalog_files["items_human_ins"].read_text())
    assert len(items) == 300 and len({i["asin"] for i in items}) == 300
    nouns = {}
    for kind in PRODUCT_TYPES:
        nouns.setdefault(kind["query"], set()).add(kind["noun"])
    groups_seen = set()
    for item in items:
        assert re.fullmatch(r"B0[A-Z0-9]{8}", item["asin"])
        assert item["category"] in CATEGORY_ROOTS
        assert item["product_category"].startswith(CATEGORY_ROOTS[item["category"]] + " › ")
        assert any(noun in item["name"].lower() for noun in nouns[item["query"]])
        assert isinstance(item["small_description"], list) and item["small_description"]
        assert isinstance(item["full_description"], str) and len(item["images"]) == 1
        assert item["pricing"] == "" or re.fullmatch(r"(\$[\d,]+\.\d\d){1,2}", item["pricing"])
        for group, values in (item["customization_options"] or {}).items():
            groups_seen.add(group)
            assert 2 <= len(values) <= 6 and all(set(v) == {"value", "image"} for v in values)
        entry = ins_v2[item["asin"]]
        assert set(entry) == {"attributes", "instruction", "instruction_attributes"}
        assert set(entry["instruction_attributes"]) <= set(entry["attributes"])
        assert entry["instruction"].startswith(("i ", "find me"))
    assert {"Color", "Size"} <= groups_seen
    assert any(len(i["pricing"].split("$")) == 3 for i in items)  # some price ranges
    assert human and all(isinstance(v, list) and v for v in human.values())
    for records in human.values():
        for record in records:
            assert {"instruction", "instruction_attributes", "instruction_options"} <= set(record)


def test_generation_is_deterministic_per_seed(tmp_path, catalog_files):
    again = generate_catalog(tmp_path / "a", num_products=300, seed=7)
    other = generate_catalog(tmp_path / "b", num_products=300, seed=8)
    for key, path in catalog_files.items():
        assert again[key].read_bytes() == path.read_bytes()
    assert other["items_shuffle"].read_bytes() != catalog_files["items_shuffle"].read_bytes()
    assert not list((tmp_path / "a").glob(".*.tmp"))
    with pytest.raises(ValueError, match="num_products"):
        generate_catalog(tmp_path / "c", num_products=0)


# --- loading ---------------------------------------------------------------------------------

def test_load_human_mode(catalog_files):
    catalog = _load(catalog_files)
    assert len(catalog) == 300 and catalog.records_read == 300
    with_instructions = 0
    for p in catalog.products:
        extra = set(p) - PRODUCT_KEYS
        assert extra <= {"instructions"}
        with_instructions += bool(extra)
        assert set(p) >= PRODUCT_KEYS
        assert p["Title"] == p["name"] and p["query"] == p["query"].strip().lower()
        assert PRICE_TAG.match(p["Price"]) and all(isinstance(x, float) for x in p["pricing"])
        assert p["Price"] == (f"${p['pricing'][0]}" if len(p["pricing"]) == 1
                              else f"${p['pricing'][0]} to ${p['pricing'][1]}")
        assert isinstance(p["BulletPoints"], list) and p["Reviews"] == [] and p["Rating"] == "N.A."
        for group, values in p["options"].items():
            assert group == group.lower()
            assert all(v == v.lower() and "/" not in v and v in p["option_to_image"] for v in values)
        for ins in p.get("instructions", ()):  # a goal's options are the product's options
            for value in ins["instruction_options"]:
                assert any(value in values for values in p["options"].values())
        assert catalog.by_asin[p["asin"]] is p
        for a in p["Attributes"]:
            assert p["asin"] in catalog.attribute_to_asins[a]
    assert with_instructions > 100
    assert any(" | " in v for p in catalog.products for vs in p["options"].values() for v in vs)


def test_load_synthetic_mode_and_first_n(catalog_files):
    catalog = load_products(catalog_files["items_shuffle"], catalog_files["items_ins_v2"], None,
                            num_products=50, human_goals=False)
    assert len(catalog) == 50
    first = json.loads(catalog_files["items_shuffle"].read_text())[:50]
    assert [p["asin"] for p in catalog.products] == [i["asin"] for i in first]
    for p in catalog.products:
        assert set(p) == PRODUCT_KEYS | {"instruction_text", "instruction_attributes"}
        assert p["instruction_text"] and p["instruction_attributes"]


def test_prices_options_and_skipping_rules(tmp_path):
    items = [
        _raw("B000000001"),
        _raw("B000000002", pricing="$10.99$24.99"),
        _raw("B000000003", pricing="$1,299.00"),
        _raw("nan"),
        _raw("B0000000004XX"),  # longer than 10 characters
        _raw("B000000001", name="a duplicate"),
        {k: v for k, v in _raw("B000000005").items() if k != "pricing"},
        _raw("B000000006", pricing="$1.50$2.50$3.50", small_description="one bullet",
             customization_options={"Color": [{"value": " Black/White ", "image": "http://img/bw.jpg"},
                                              {"value": "Navy Blue", "image": None}],
                                    "Size": None, "Flavor Name": [{"value": "Sea Salt"}]}),
    ]
    attributes = {"B000000001": {"attributes": ["soft", "easy to clean"], "instruction": "i want a soft sofa",
                                 "instruction_attributes": ["soft"]}}
    catalog = load_products(*_write(tmp_path, items, attributes).values(), human_goals=True)
    assert [p["asin"] for p in catalog.products] == ["B000000001", "B000000002", "B000000003", "B000000005",
                                                   "B000000006"]
    assert catalog.skipped == {"bad_asin": 2, "duplicate": 1} and catalog.records_read == 8
    by = catalog.by_asin
    assert by["B000000001"]["name"] == "Acme Sofa B000000001"  # the first of a repeated asin wins
    assert (by["B000000001"]["pricing"], by["B000000001"]["Price"]) == ([12.99], "$12.99")
    assert (by["B000000002"]["pricing"], by["B000000002"]["Price"]) == ([10.99, 24.99], "$10.99 to $24.99")
    assert (by["B000000003"]["pricing"], by["B000000003"]["Price"]) == ([1299.0], "$1299.0")
    assert (by["B000000005"]["pricing"], by["B000000005"]["Price"]) == ([100.0], "$100.0")
    p6 = by["B000000006"]
    assert (p6["pricing"], p6["Price"]) == ([1.5, 2.5], "$1.5 to $2.5")
    assert p6["options"] == {"color": ["black | white", "navy blue"], "flavor name": ["sea salt"]}
    assert p6["option_to_image"] == {"black | white": "http://img/bw.jpg", "navy blue": None, "sea salt": None}
    assert p6["BulletPoints"] == ["one bullet"] and p6["MainImage"] == "http://img/1.jpg"
    assert by["B000000001"]["Attributes"] == ["soft", "easy to clean"] and p6["Attributes"] == ["DUMMY_ATTR"]
    assert catalog.attribute_to_asins["DUMMY_ATTR"] == {"B000000002", "B000000003", "B000000005", "B000000006"}
    assert "instructions" not in by["B000000001"]
    synthetic = load_products(*list(_write(tmp_path / "s", items, attributes).values())[:2], human_goals=False)
    assert synthetic.by_asin["B000000001"]["instruction_text"] == "i want a soft sofa"
    assert synthetic.by_asin["B000000002"]["instruction_text"] is None


def test_streaming_stops_after_num_products(tmp_path):
    good = ",\n".join(json.dumps(_raw(f"B00000000{i}")) for i in range(5))
    paths = _write(tmp_path, None, items_text="[\n" + good + ',\n{"asin": "B0BROKEN", "name": tru')
    catalog = load_products(*paths.values(), num_products=5)
    assert len(catalog) == 5 and catalog.records_read == 5
    with pytest.raises(CatalogError, match=r"items_shuffle\.json: malformed JSON after record 4"):
        load_products(*paths.values())


def test_clear_errors_for_bad_data(tmp_path):
    def load(name, items, human=None, **kwargs):
        return load_products(*_write(tmp_path / name, items, human=human).values(), **kwargs)

    broken = _raw("B000000002")
    del broken["images"], broken["query"]
    with pytest.raises(CatalogError, match=r"items_shuffle\.json: item 1 \(asin B000000002\): missing key.*images"):
        load("missing", [_raw("B000000001"), broken])
    with pytest.raises(CatalogError, match=r"item 0 \(asin B000000001\): pricing '\$abc'"):
        load("pricing", [_raw("B000000001", pricing="$abc")])
    with pytest.raises(CatalogError, match=r"item 0 \(asin B000000001\): customization_options"):
        load("options", [_raw("B000000001", customization_options={"Color": ["red"]})])
    with pytest.raises(CatalogError, match=r"item 1: 'asin' must be a string"):
        load("asin", [_raw("B000000001"), _raw(None)])
    with pytest.raises(CatalogError, match="expected a JSON file holding an array"):
        load("object", {"B000000001": _raw("B000000001")})
    with pytest.raises(CatalogError, match=r"items_human_ins\.json: entry 'B000000001': instruction 0: missing"):
        load("human", [_raw("B000000001")], human={"B000000001": [{"instruction": "i want a sofa"}]})
    with pytest.raises(ValueError, match="num_products"):
        load("n", [_raw("B000000001")], num_products=0)
    with pytest.raises(ValueError, match="human_instructions_path"):
        load_products(tmp_path / "n" / "items_shuffle.json", tmp_path / "n" / "items_ins_v2.json")
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        load_products(tmp_path / "nowhere.json", tmp_path / "n" / "items_ins_v2.json", human_goals=False)


# --- prices and goals ------------------------------------------------------------------------

def test_prices_are_reproducible_per_seed(catalog_files):
    catalog = _load(catalog_files)
    prices = product_prices(catalog.products, seed=3)
    assert prices == product_prices(catalog, seed=3)
    assert prices != product_prices(catalog, seed=4)
    for p in catalog.products:
        lo, *hi = p["pricing"]
        assert prices[p["asin"]] == lo if not hi else lo <= prices[p["asin"]] <= hi[0]


def test_human_goals(catalog_files):
    catalog = _load(catalog_files)
    prices = product_prices(catalog, seed=0)
    goals = human_goals(catalog, prices, seed=0)
    instructions = [(p, ins) for p in catalog.products for ins in p.get("instructions", ())]
    kept = [(p, ins) for p, ins in instructions if ins["instruction_attributes"]]
    assert 0 < len(goals) == len(kept) < len(instructions) + 1
    for goal, (p, ins) in zip(goals, kept):
        assert list(goal) == GOAL_KEYS and goal["asin"] == p["asin"] and goal["weight"] == 1
        assert goal["goal_options"] == ins["instruction_options"] and goal["name"] == p["name"]
        match = SUFFIX.search(goal["instruction_text"])
        above = [x for x in PRICE_RANGE if x > prices[p["asin"]]][:4]
        if len(above) >= 2:
            assert match and float(match.group(1)) == goal["price_upper"] and goal["price_upper"] in above[1:]
            assert goal["instruction_text"] == ins["instruction"].strip(".") + match.group(0)
        else:
            assert not match and goal["price_upper"] == 1000000
    assert goals == human_goals(catalog, prices, seed=0)
    assert [g["price_upper"] for g in goals] != [g["price_upper"] for g in human_goals(catalog, prices, seed=1)]
    unpriced = human_goals(catalog, None, seed=0)
    assert all(g["price_upper"] == 1000000 and not SUFFIX.search(g["instruction_text"]) for g in unpriced)


def test_synthetic_goals(catalog_files):
    catalog = load_products(catalog_files["items_shuffle"], catalog_files["items_ins_v2"], None,
                            num_products=60, human_goals=False)
    prices = product_prices(catalog, seed=0)
    goals = synthetic_goals(catalog, prices, seed=0)
    expected = 0
    for p in catalog.products:
        n = 1
        for values in p["options"].values():
            n *= len(values)
        expected += n
    assert len(goals) == expected
    counts = {}
    for g in goals:
        for a in g["attributes"]:
            counts[a] = counts.get(a, 0) + 1
    for g in goals:
        p = catalog.by_asin[g["asin"]]
        assert list(g) == GOAL_KEYS and g["name"] == p["Title"]
        assert list(g["goal_options"]) == sorted(p["options"])
        assert all(g["goal_options"][k] in p["options"][k] for k in g["goal_options"])
        options = ", and ".join(f"{k}: {v}" for k, v in g["goal_options"].items())
        assert g["instruction_text"].startswith(p["instruction_text"] + (f" with {options}" if options else ""))
        assert g["weight"] == pytest.approx(sum(1 / counts[a] for a in g["attributes"]) / len(g["attributes"]))


# --- splits ----------------------------------------------------------------------------------

def test_split_goals_follow_the_original_order():
    goals = [{"id": i} for i in range(2000)]
    reference = list(goals)
    state = random.getstate()
    try:
        random.seed(233)
        random.shuffle(reference)  # what the original does with the global RNG
    finally:
        random.setstate(state)
    assert split_goals(goals, "all") == reference
    test, dev, train = (split_goals(goals, s) for s in ("test", "dev", "train"))
    assert (len(test), len(dev), len(train)) == (500, 1000, 500)
    assert test == reference[:500] and dev == reference[500:1500] and train == reference[1500:]
    assert split_goals(goals, "test", seed=1) != test
    assert split_range("dev", 2000) == range(500, 1500) and split_range("train", 1600) == range(1500, 1600)
    assert split_goals(goals, None, indices=[3, 1999, 0]) == [reference[3], reference[1999], reference[0]]
    assert goals == [{"id": i} for i in range(2000)]  # the input is left as it was


def test_split_goals_errors():
    goals = [{"id": i} for i in range(400)]
    with pytest.raises(ValueError, match="unknown split 'eval'"):
        split_goals(goals, "eval")
    with pytest.raises(ValueError, match="split 'dev' .* is empty: there are only 400 goals"):
        split_goals(goals, "dev")
    with pytest.raises(ValueError, match="goal index 400 is out of range"):
        split_goals(goals, None, indices=[0, 400])
    with pytest.raises(ValueError, match="goal index -1 is out of range"):
        split_goals(goals, "test", indices=[-1])
    with pytest.raises(ValueError, match="must be integers"):
        split_goals(goals, None, indices=["3"])
    with pytest.raises(ValueError, match="a split name or indices"):
        split_goals(goals, None)
