"""BM25 product search in place of WebShop's pyserini/Lucene index (no Java).

Each product is indexed by the text the original's indexer builds: title, description, first
bullet point and the option text ("size: s, m, and color: red"), lowercased. Scoring uses
Lucene's BM25 (k1 0.9, b 0.4, pyserini's defaults) through bm25s, with Porter stemming and
English stopwords. Only hits with a positive score count, at most ``k``, best first (ties by
catalog order). The index is built once, saved, and memory-mapped on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

K1, B = 0.9, 0.4
ASINS_FILE = "asins.json"


def index_text(product: dict) -> str:
    options = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product.get("options", {}).items())
    bullets = product.get("BulletPoints") or [""]
    return " ".join([product["Title"], product["Description"], bullets[0], options]).lower()


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("porter")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lowercased word tokens without English stopwords, Porter-stemmed."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class SearchIndex:
    def __init__(self, retriever, asins: list[str]):
        self.retriever, self.asins = retriever, asins

    @classmethod
    def build(cls, products: list[dict]) -> "SearchIndex":
        import bm25s

        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        retriever.index(tokenize([index_text(p) for p in products]), show_progress=False)
        return cls(retriever, [p["asin"] for p in products])

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.retriever.save(str(folder), show_progress=False)
        (folder / ASINS_FILE).write_text(json.dumps(self.asins))  # written last: the index is complete

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True) -> "SearchIndex":
        import bm25s

        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
        return cls(retriever, json.loads((Path(folder) / ASINS_FILE).read_text()))

    def search(self, query: str, k: int = 50) -> list[str]:
        vocabulary = self.retriever.vocab_dict
        tokens = [t for t in tokenize([query])[0] if t in vocabulary]
        if not tokens:
            return []
        scores = self.retriever.get_scores(tokens)
        hits = np.flatnonzero(scores > 0)
        # best first; equal scores in catalog order (a stable sort of the negated scores)
        best = hits[np.argsort(-scores[hits], kind="stable")][:k]
        return [self.asins[i] for i in best]
