"""WebShop search as the original's Lucene index answers: the indexed text, the analyzer,
Lucene 8's BM25 in float32 with one-byte lengths, ties by ASIN, positive hits only, the k limit,
the saved and memory-mapped index, and one index shared through a Ray actor."""

import json
import math

import numpy as np
import pytest

from environments.webshop import search
from environments.webshop.search import IndexFormatError, SearchIndex, analyze, index_text, stem, stored_length


def product(asin, title, description="", bullets=("",), options=None):
    return {"asin": asin, "Title": title, "Description": description, "BulletPoints": list(bullets),
            "options": options or {}}


PRODUCTS = [
    product("B0SHAMPOO1", "Tea Tree Shampoo", "Sulfate free shampoo for dry hair.",
            ["Made with tea tree oil", "Vegan"]),
    product("B0SHAMPOO2", "Argan Shampoo and Conditioner Set", "Two bottles.", ["Argan oil"]),
    product("B0SOFA0001", "Velvet Sofa", "A sofa for small rooms.", ["Seats three"], {"color": ["navy blue", "grey"]}),
    product("B0HEADPHN1", "Wireless Headphones", "Noise cancelling over ear headphones.", ["40 hour battery"]),
    product("B0EARBUDS1", "Wired Earbuds", "In ear.", ["Vegan leather case"], {"color": ["black"]}),
    product("B0TSHIRT01", "Men's Cotton T-Shirt", "Soft 100% cotton.", ["Machine wash"],
            {"size": ["s", "m", "x-large"], "color": ["white"]}),
    product("B0LAMP0001", "LED Desk Lamp", "A 3.5 inch base and 1,000 lumens.", ["USB charging"]),
    product("B0MUG00002", "Ceramic Mug", "Holds coffee.", ["Dishwasher safe"]),  # the twins: equal scores,
    product("B0MUG00001", "Ceramic Mug", "Holds coffee.", ["Dishwasher safe"]),  # ranked by ASIN
]


@pytest.fixture(scope="module")
def index():
    return SearchIndex.build(PRODUCTS)


def test_the_indexed_text_is_title_description_first_bullet_and_options():
    assert index_text(PRODUCTS[2]) == "velvet sofa a sofa for small rooms. seats three color: navy blue, grey"
    assert index_text(PRODUCTS[5]).endswith("machine wash size: s, m, x-large, and color: white")
    assert "vegan" not in index_text(PRODUCTS[0])  # only the first bullet point
    assert index_text({"asin": "X", "Title": "Mug", "Description": None, "BulletPoints": []}) == "mug   "


def test_the_analyzer_splits_and_stems_as_lucene_does():
    assert analyze("The Women's T-Shirts, 3.5 oz, 1,000 pcs; x-large & DON'T possibly") == [
        "women", "t", "shirt", "3.5", "oz", "1,000", "pc", "x", "larg", "don't", "possibl"]
    assert analyze("the of and with") == [] and analyze("!!! --") == []
    assert stem("possibly") == stem("possible") == "possibl"  # Lucene's Porter: -bli to -ble
    assert stem("technology") == stem("technological") == "technolog"  # and -logi to -log
    assert [stem(w) for w in ("us", "xs", "s", "shampoos")] == ["us", "xs", "s", "shampoo"]  # two letters: unstemmed


def test_lengths_are_kept_as_lucene_norms_keep_them():
    assert stored_length([0, 7, 24, 39, 40, 41, 42, 100, 1000]).tolist() == [0, 7, 24, 39, 40, 40, 42, 96, 984]


def test_crafted_queries_find_their_products_in_order(index):
    assert index.search("shampoos") == ["B0SHAMPOO1", "B0SHAMPOO2"]  # stemmed; twice in the first
    assert index.search("tea tree shampoo") == ["B0SHAMPOO1", "B0SHAMPOO2"]
    assert index.search("the wireless headphones with the battery") == ["B0HEADPHN1"]  # stopwords ignored
    assert index.search("navy sofa") == ["B0SOFA0001"]  # option text is indexed
    assert index.search("vegan") == ["B0EARBUDS1"]  # the earbuds' first bullet, not the shampoo's second
    assert index.search("ceramic mug") == ["B0MUG00001", "B0MUG00002"]  # a tie: by ASIN, not catalog order
    assert index.search("s") == index.search("men's shirts") == ["B0TSHIRT01"]  # one-letter sizes are tokens
    assert index.search("3.5 inch") == index.search("1,000") == ["B0LAMP0001"]
    assert index.search("3") == []  # "3.5" is one token


def test_scores_are_lucene_bm25_in_float32(index):
    lengths = [len(analyze(index_text(p))) for p in PRODUCTS]
    avgdl = np.float32(sum(lengths) / len(lengths))
    f32 = np.float32
    idf = f32(math.log(1 + (len(PRODUCTS) - 1 + 0.5) / (1 + 0.5)))  # "velvet": one product
    norm_inverse = f32(1) / (f32(0.9) * ((f32(1) - f32(0.4)) + f32(0.4) * f32(lengths[2]) / avgdl))
    assert index.hits("velvet") == [("B0SOFA0001", float(idf - idf / (f32(1) + f32(1) * norm_inverse)))]
    sofa = index.hits("sofa")[0][1]
    assert index.hits("sofa sofa")[0][1] == 2 * sofa  # a repeated word counts each time
    assert sofa > index.hits("velvet")[0][1]  # tf 2 beats tf 1 in the same product


def test_only_matching_products_count_and_k_limits(index):
    assert index.search("xylophone the of") == [] and index.search("") == []
    everything = index.hits("shampoo sofa headphones", k=50)
    assert {a for a, _ in everything} == {"B0SHAMPOO1", "B0SHAMPOO2", "B0SOFA0001", "B0HEADPHN1"}
    assert all(score > 0 for _, score in everything)
    assert [s for _, s in everything] == sorted((s for _, s in everything), reverse=True)
    assert index.search("shampoo sofa headphones", k=2) == [a for a, _ in everything[:2]]
    assert index.search("shampoo", k=0) == []
    assert len(index.search("ceramic mug headphones shampoo sofa tea", k=1000)) == 6  # k beyond the catalog


def test_lucene_lengths_make_near_lengths_tie():
    filler = [f"w{i}" for i in range(60)]
    products = [product("B0LONG0002", "widget", " ".join(filler[:39])),  # 40 terms: stored exactly
                product("B0LONG0001", "widget", " ".join(filler[20:60])),  # 41 terms: stored as 40
                product("B0SHORT001", "widget", " ".join(filler[:5]))]
    hits = SearchIndex.build(products).hits("widget")
    assert [a for a, _ in hits] == ["B0SHORT001", "B0LONG0001", "B0LONG0002"] and hits[1][1] == hits[2][1]


def test_a_saved_index_loads_memory_mapped_with_the_same_results(index, tmp_path):
    index.save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index", mmap=True)
    assert isinstance(loaded.retriever.scores["data"], np.memmap)
    queries = ["tea tree shampoo", "shampoos", "navy sofa", "vegan", "ceramic mug", "s", "headphones earbuds", "zzz"]
    for query in queries:
        assert loaded.hits(query) == index.hits(query)
    index.save(tmp_path / "index")  # saving again replaces the folder
    assert SearchIndex.load(tmp_path / "index", mmap=False).search("velvet") == ["B0SOFA0001"]


def test_load_or_build_builds_once_and_refuses_other_indexes(tmp_path, monkeypatch):
    folder = tmp_path / "index"
    first = SearchIndex.load_or_build(folder, PRODUCTS)
    monkeypatch.setattr(SearchIndex, "build", classmethod(lambda cls, products: pytest.fail("rebuilt")))
    assert SearchIndex.load_or_build(folder, PRODUCTS).hits("mug") == first.hits("mug")
    with pytest.raises(IndexFormatError):
        SearchIndex.load_or_build(folder, PRODUCTS[:3])  # another catalog
    monkeypatch.undo()

    (folder / search.META_FILE).write_text(json.dumps([p["asin"] for p in PRODUCTS]))  # an older format
    assert not SearchIndex.is_saved(folder)
    with pytest.raises(IndexFormatError):
        SearchIndex.load(folder)
    assert SearchIndex.load_or_build(folder, PRODUCTS).search("velvet") == ["B0SOFA0001"]  # rebuilt
    assert SearchIndex.is_saved(folder) and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
