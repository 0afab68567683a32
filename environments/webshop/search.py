"""WebShop's product search without Java: the original's Lucene BM25 index, rebuilt on bm25s.

The original indexes one document per product (search_engine/convert_product_file_format.py):
title, description, first bullet point and the option text ("size: s, m, and color: red"),
lowercased, indexed by pyserini 0.17 (Anserini on Lucene 8) and searched with ``k=50``
(``SEARCH_RETURN_N``). This module reproduces what that search returns:

* Analysis as Anserini's default English analyzer: Unicode word segmentation as Lucene's
  StandardTokenizer does it (one-letter tokens kept; "3.5", "1,000" and "don't" are one token,
  "wi-fi" is two), the English possessive "'s" dropped, lowercase, Lucene's 33 English
  stopwords removed, Porter stemming (PyStemmer's Porter with the two changes Lucene's Porter
  stemmer makes: "-bli" to "-ble", "-logi" to "-log"; tokens of one or two characters unstemmed).
* Lucene 8's BM25 with pyserini's k1 0.9 and b 0.4, in float32 as Lucene computes it: idf
  ``log(1 + (N - df + 0.5) / (df + 0.5))``, each term's score ``w - w / (1 + tf / norm)``, the
  document length stored in Lucene's one-byte norm (exact up to 39 terms, then 4 significant
  bits), a query's term scores summed in double and rounded to float; a repeated query word
  counts each time.
* Hits: every product sharing a term with the query (all have a positive score), best first,
  equal scores by ASIN (Anserini breaks ties by the collection id), at most ``k``.

The scores sit in a bm25s index (a CSC matrix of per-term document scores), saved once and
loaded memory-mapped, so that the environments of many workers on one machine share its pages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

SEARCH_RETURN_N = 50
"""Results per search in the original (web_agent_site/engine/engine.py)."""
K1, B = 0.9, 0.4
"""pyserini's BM25 defaults."""
FORMAT = "webshop-search/lucene8-bm25-v2"
"""Written into every saved index; an index saved by another analyzer or scorer is refused."""
META_FILE = "asins.json"
RANK_FILE = "asin_rank.npy"

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (Anserini's default stopwords)
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split())

_IDEOGRAPHS = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Hiragana and Han: one token per character
_WORD = rf"[^\W{_IDEOGRAPHS}]"  # letters, digits and the underscore (which joins words, as in UAX #29)
_LETTER = rf"[^\W\d_{_IDEOGRAPHS}]"
# Word-break rules WB6/7 (a letter, then . ' : or a middle dot, then a letter) and WB11/12 (a
# digit, then . , ; or ', then a digit) keep such a character inside a token; anything else splits.
_TOKEN = re.compile(
    rf"[{_IDEOGRAPHS}]|{_WORD}+(?:(?:(?<={_LETTER})[.:'\u00b7\u2018\u2019\uff07](?={_LETTER})"
    rf"|(?<=\d)[.,;'\u2018\u2019\uff07](?=\d)){_WORD}+)*")
_POSSESSIVE = ("'s", "\u2019s", "\uff07s")


def index_text(product: dict) -> str:
    """The text the original indexes for ``product`` (title, description, first bullet point,
    options), lowercased."""
    options = ", and ".join(f"{name}: {', '.join(values)}" for name, values in (product.get("options") or {}).items())
    bullets = product.get("BulletPoints") or [""]
    parts = [product.get("Title"), product.get("Description"), bullets[0], options]
    return " ".join(part or "" for part in parts).lower()


@lru_cache(maxsize=1)
def _porter():
    import Stemmer

    return Stemmer.Stemmer("porter")


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``stem``."""
    m, previous_vowel = 0, False
    for i, c in enumerate(stem):
        vowel = c in "aeiou" or (c == "y" and i > 0 and not previous_vowel)
        if previous_vowel and not vowel:
            m += 1
        previous_vowel = vowel
    return m


def stem(word: str) -> str:
    """Lucene's PorterStemFilter: words of three or more characters, Porter's reference rules."""
    if len(word) < 3:
        return word
    stemmed = _porter().stemWord(word)
    # The reference implementation Lucene ports rewrites "-bli" (not only "-abli") and "-logi" in step 2.
    if stemmed.endswith("bli") and _measure(stemmed[:-3]) > 0:
        return _porter().stemWord(stemmed[:-1] + "e")
    if stemmed.endswith("logi") and _measure(stemmed[:-4]) > 0:
        return stemmed[:-1]
    return stemmed


def _term(token: str) -> str | None:
    """One token through the filters after the tokenizer; None when it is dropped."""
    token = token.lower()
    if token.endswith(_POSSESSIVE):
        token = token[:-2]
    if token in STOPWORDS or not any(c.isalnum() for c in token):
        return None
    return stem(token)


_query_term = lru_cache(maxsize=1 << 16)(_term)


def analyze(text: str) -> list[str]:
    """The indexed terms of ``text``, in order (Anserini's default English analyzer)."""
    return [t for t in map(_query_term, _TOKEN.findall(text)) if t is not None]


def tokenize(texts: list[str]) -> list[list[str]]:
    """``analyze`` over many texts (the terms a peer BM25 gets, in the benchmark)."""
    terms: dict[str, str | None] = {}
    out = []
    for text in texts:
        doc = []
        for token in _TOKEN.findall(text):
            term = terms[token] if token in terms else terms.setdefault(token, _term(token))
            if term is not None:
                doc.append(term)
        out.append(doc)
    return out


# Lucene's SmallFloat.intToByte4 / byte4ToInt: a document length in one byte.
def _byte4_to_int(byte: int) -> int:
    if byte < 24:
        return byte
    code = byte - 24
    shift = (code >> 3) - 1
    return 24 + (code & 7 if shift < 0 else ((code & 7) | 8) << shift)


LENGTH_TABLE = np.array([_byte4_to_int(i) for i in range(256)], dtype=np.int64)


def stored_length(lengths) -> np.ndarray:
    """Document lengths as Lucene's norms keep them (rounded down to a one-byte value)."""
    return LENGTH_TABLE[np.searchsorted(LENGTH_TABLE, np.asarray(lengths), side="right") - 1]


def lucene_scores(tf: np.ndarray, df: np.ndarray, doc_length: np.ndarray, num_docs: int, avgdl: float) -> np.ndarray:
    """Lucene 8 BM25Similarity per (term, document) in float32: ``tf``, ``df`` and
    ``doc_length`` (the stored lengths) are given per posting."""
    f32 = np.float32
    idf = np.log(1 + (num_docs - df + 0.5) / (df + 0.5)).astype(f32)  # Math.log in double, cast to float
    k1, b, avgdl = f32(K1), f32(B), f32(avgdl)
    norm_inverse = f32(1) / (k1 * ((f32(1) - b) + b * doc_length.astype(f32) / avgdl))
    return idf - idf / (f32(1) + tf.astype(f32) * norm_inverse)


class IndexFormatError(ValueError):
    """A saved index this module did not write (another analyzer, scorer or version)."""


class SearchIndex:
    """BM25 over a catalog: ``build`` it from product dicts, ``save`` it once, ``load`` it
    (memory-mapped) where it is searched, or ``load_or_build`` for both."""

    def __init__(self, retriever, asins: list[str], asin_rank: np.ndarray):
        self.retriever, self.asins, self.asin_rank = retriever, asins, asin_rank

    def __len__(self) -> int:
        return len(self.asins)

    @classmethod
    def build(cls, products: list[dict]) -> "SearchIndex":
        import bm25s

        vocab: dict[str, int] = {}
        term_ids: dict[str, int] = {}  # token -> term id, -1 for a dropped token
        flat, lengths = [], np.zeros(len(products), dtype=np.int64)
        for d, product in enumerate(products):
            ids = []
            for token in _TOKEN.findall(index_text(product)):
                i = term_ids.get(token)
                if i is None:
                    term = _term(token)
                    i = term_ids[token] = -1 if term is None else vocab.setdefault(term, len(vocab))
                if i >= 0:
                    ids.append(i)
            flat.append(np.array(ids, dtype=np.int32))
            lengths[d] = len(ids)
        terms = np.concatenate(flat) if flat else np.zeros(0, dtype=np.int32)
        del flat
        n = len(products)
        # postings sorted by term, then document; the number of repeats of a pair is its tf
        pairs, tf = np.unique(terms.astype(np.int64) * max(n, 1) + np.repeat(np.arange(n), lengths), return_counts=True)
        del terms
        term, doc = np.divmod(pairs, max(n, 1))
        df = np.bincount(term, minlength=len(vocab))
        doc_count = int(np.count_nonzero(lengths))  # Lucene's docCount: documents with the field
        avgdl = float(lengths.sum() / doc_count) if doc_count else 1.0
        data = lucene_scores(tf, df[term], stored_length(lengths)[doc], doc_count, avgdl)
        indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)

        retriever = bm25s.BM25(k1=K1, b=B, method="lucene", idf_method="lucene")
        retriever.scores = {"data": data, "indices": doc.astype(np.int32), "indptr": indptr, "num_docs": n}
        retriever.vocab_dict = vocab
        retriever.unique_token_ids_set = set(vocab.values())
        retriever.nonoccurrence_array = None  # what bm25s's own index() leaves for method "lucene"
        asins = [p["asin"] for p in products]
        return cls(retriever, asins, _ranks(asins))

    def save(self, folder: str | Path) -> None:
        """Write the index to ``folder``, replacing what is there (written beside it, then renamed)."""
        self._publish(Path(folder), replace=True)

    def _publish(self, folder: Path, replace: bool) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            self._write(partial)
            if folder.exists() and (replace or not self.is_saved(folder)):
                shutil.rmtree(folder, ignore_errors=True)
            try:
                os.rename(partial, folder)
            except OSError:
                if replace or not self.is_saved(folder):  # not another caller's finished index
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _write(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)
        np.save(folder / RANK_FILE, self.asin_rank)
        (folder / META_FILE).write_text(json.dumps({"format": FORMAT, "k1": K1, "b": B, "asins": self.asins}))

    @staticmethod
    def is_saved(folder: str | Path) -> bool:
        """Whether ``folder`` holds an index in this module's format."""
        try:
            return _read_meta(Path(folder)) is not None
        except (OSError, ValueError):
            return False

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True) -> "SearchIndex":
        """A saved index; with ``mmap`` its arrays stay on disk, shared by every process reading them."""
        import bm25s

        folder = Path(folder)
        meta = _read_meta(folder)
        if meta is None:
            raise IndexFormatError(f"{folder} holds no search index of format {FORMAT!r} (delete it to rebuild)")
        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
        rank = np.load(folder / RANK_FILE, mmap_mode="r" if mmap else None)
        return cls(retriever, meta["asins"], rank)

    @classmethod
    def load_or_build(cls, folder: str | Path, products: list[dict], mmap: bool = True) -> "SearchIndex":
        """The index saved in ``folder``, built from ``products`` and saved first if there is none
        (or one of another format). Concurrent callers may each build; one copy is kept."""
        folder = Path(folder)
        if not cls.is_saved(folder):
            cls.build(products)._publish(folder, replace=False)
        index = cls.load(folder, mmap=mmap)
        if index.asins != [p["asin"] for p in products]:
            raise IndexFormatError(f"{folder} indexes another catalog ({len(index)} products, not {len(products)})")
        return index

    def hits(self, query: str, k: int = SEARCH_RETURN_N) -> list[tuple[str, float]]:
        """(asin, score) of the best ``k`` products for ``query``, best first."""
        vocab = self.retriever.vocab_dict
        terms = [vocab[t] for t in analyze(query) if t in vocab]
        if not terms or k <= 0:
            return []
        scores = self.retriever.scores
        data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
        spans = [(int(indptr[t]), int(indptr[t + 1])) for t in terms]
        docs = np.concatenate([indices[s:e] for s, e in spans])
        weights = np.concatenate([data[s:e] for s, e in spans]).astype(np.float64)
        total = np.bincount(docs, weights=weights, minlength=scores["num_docs"])  # summed in double
        matched = np.flatnonzero(total > 0)
        score = total[matched].astype(np.float32)
        if len(matched) > k:  # keep the k best and everything tied with the k-th
            keep = score >= np.partition(score, len(score) - k)[len(score) - k]
            matched, score = matched[keep], score[keep]
        order = np.lexsort((np.asarray(self.asin_rank)[matched], -score))[:k]
        return [(self.asins[i], float(s)) for i, s in zip(matched[order], score[order])]

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """ASINs of the best ``k`` products for ``query``, best first (equal scores by ASIN)."""
        return [asin for asin, _ in self.hits(query, k)]


def _ranks(asins: list[str]) -> np.ndarray:
    rank = np.empty(len(asins), dtype=np.int32)
    rank[sorted(range(len(asins)), key=asins.__getitem__)] = np.arange(len(asins), dtype=np.int32)
    return rank


def _read_meta(folder: Path) -> dict | None:
    meta = json.loads((folder / META_FILE).read_text())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    return meta
