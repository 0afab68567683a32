"""WebShop's BM25 search: what is indexed, crafted queries, positive scores only, the save
and memory-mapped load round trip."""

import pytest

from environments.webshop.search import SearchIndex, index_text


def product(asin, title, description="", bullets=("",), options=None):
    return {"asin": asin, "Title": title, "Description": description, "BulletPoints": list(bullets), "options": options or {}}


PRODUCTS = [
    product("B0SHAMPOO1", "Tea Tree Shampoo", "Sulfate free shampoo for dry hair.", ["Made with tea tree oil", "Vegan"]),
    product("B0SHAMPOO2", "Argan Shampoo and Conditioner Set", "Two bottles.", ["Argan oil"]),
    product("B0SOFA0001", "Velvet Sofa", "A sofa for small rooms.", ["Seats three"], {"color": ["navy blue", "grey"]}),
    product("B0HEADPHN1", "Wireless Headphones", "Noise cancelling over ear headphones.", ["40 hour battery"]),
    product("B0HEADPHN2", "Wired Earbuds", "In ear.", ["Vegan leather case"], {"color": ["black"]}),
]


@pytest.fixture(scope="module")
def index():
    return SearchIndex.build(PRODUCTS)


def test_the_indexed_text_is_title_description_first_bullet_and_options():
    assert index_text(PRODUCTS[2]) == "velvet sofa a sofa for small rooms. seats three color: navy blue, grey"
    assert "vegan" not in index_text(PRODUCTS[0])  # only the first bullet point


def test_crafted_queries_find_their_products(index):
    assert index.search("tea tree shampoo")[0] == "B0SHAMPOO1"
    assert set(index.search("shampoos")) == {"B0SHAMPOO1", "B0SHAMPOO2"}  # stemmed: "shampoo" matches
    assert index.search("the wireless headphones with the battery") == ["B0HEADPHN1"]  # stopwords and stems
    assert index.search("navy sofa") == ["B0SOFA0001"]  # option text is searchable
    assert index.search("vegan")[0] == "B0HEADPHN2"  # the first bullet of the earbuds, not the shampoo's second


def test_only_positive_scores_count_and_k_limits(index):
    assert index.search("xylophone the of") == []
    assert index.search("") == []
    assert len(index.search("shampoo sofa headphones", k=2)) == 2
    assert set(index.search("shampoo sofa headphones", k=50)) == {"B0SHAMPOO1", "B0SHAMPOO2", "B0SOFA0001", "B0HEADPHN1"}


def test_a_saved_index_loads_memory_mapped_with_the_same_results(index, tmp_path):
    index.save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index", mmap=True)
    for query in ("tea tree shampoo", "shampoos", "navy sofa", "vegan", "headphones earbuds"):
        assert loaded.search(query) == index.search(query)
