"""Catalog search by what a shopper means: "조용한 공기청정기 원룸용", "waterproof hiking boots under $150".

Each item (a product's variant) is scored by parts that each answer one question, and their weighted sum
ranks the items:

- *which product* — the query's e5 similarity to each product's name, relative to the best product
  (a product the query names by word scores a further point);
- *which variant* — with a local model (`QueryReader`), the model reads the query against the best
  products' options and picks the product and, per option, the value the query asks for or implies
  ("원룸에 좋은" → 사용 공간: 소형, "earbuds I can swim with" → water resistance: IPX7), or none; each pick
  the item meets scores. A spec value the query names by word ("블랙", "wireless") is a reason shown with
  the hit (its weight, like every weight, is chosen on the benchmark's development queries);
- *what reviewers say* — when the shop's reviews are analysed, a product gains where its reviews praise an
  aspect the query names, and loses where they criticise it, the reviews cited as evidence;
- BM25 over the item's text and its e5 similarity, as in document search;
- price ("10만원 이하", "under $150", "$50-$100") is a filter, not a score.

Every hit says why: the spec values and review aspects that matched, with their evidence.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inhouse.apps.commerce.catalog import CatalogStore, Item, Product, catalog_path, open_catalog
from inhouse.apps.commerce.reviews import mentions, reviews_if_any, reviews_path
from inhouse.errors import InputError
from inhouse.text import lexical_terms, lexical_terms_batch
from inhouse.text.analyze import analyze

METHODS = ("attribute", "bm25", "dense", "hybrid")

# Weights chosen on the benchmark's development queries (bench/commerce_search.py --tune); the test queries
# were not used.
WEIGHTS = {"product": 16.0, "named": 1.0, "value": 0.0, "bm25": 0.5, "dense": 4.0, "review": 1.0,
           "pick_product": 0.5, "pick_option": 0.25}

# A number: thousands grouped by commas ("1,300,000") or plain, with an optional decimal part.
_NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_K = r"(?:\s*(k)\b)?"  # "$1.5k"; the k of a following word is not it ("$50 kids")
_BELOW = r"\b(?:under|below|less than|cheaper than|up to|at most|max(?:imum)?|within)"
_EN_MAX = re.compile(rf"{_BELOW}\s*\$\s*{_NUM}{_K}|{_BELOW}\s*{_NUM}{_K}\s*(?:dollars|usd|bucks)", re.IGNORECASE)
_EN_MIN = re.compile(rf"\b(?:over|above|more than|at least|from|min(?:imum)?)\s*\$\s*{_NUM}{_K}", re.IGNORECASE)
_EN_RANGE = re.compile(rf"\$\s*{_NUM}{_K}\s*(?:-|–|to)\s*\$?\s*{_NUM}{_K}"
                       rf"|\bbetween\s*\$\s*{_NUM}{_K}\s*and\s*\$?\s*{_NUM}{_K}", re.IGNORECASE)
_KO_AMOUNT = rf"(?:{_NUM}\s*(만|천)?\s*원|\$\s*{_NUM}|{_NUM}\s*달러)"
_KO_MAX = re.compile(rf"{_KO_AMOUNT}\s*(?:이하|미만|아래|안쪽|까지|이내|내외로|안으로|밑으로|밑|언더)")
_KO_MIN = re.compile(rf"{_KO_AMOUNT}\s*(?:이상|초과|넘는|넘게|부터|보다 비싼)")
_KO_BAND = re.compile(rf"{_NUM}\s*(만|천)?\s*원대")
# "3만 5천원", "3만5천 원" → "35000원", read as one amount.
_KO_COMPOUND = re.compile(r"(\d+)\s*만\s*(\d+)\s*천\s*(?=원)")
_UNITS = {"만": 10_000, "천": 1_000, "k": 1_000, "K": 1_000}


def _amount(num: str | None, unit: str | None) -> float | None:
    """The amount, or None for a number too large to be a price."""
    value = float((num or "0").replace(",", "")) * _UNITS.get(unit or "", 1)
    return value if math.isfinite(value) and value < 1e15 else None


def _ko_amount(groups: Sequence[str | None]) -> float | None:
    won, unit, dollars, dollars2 = groups[:4]
    return _amount(won, unit) if won else _amount(dollars or dollars2, None)


def _band(num: str, unit: str | None) -> tuple[float, float] | None:
    """"15만원대" → 150,000–159,999; "10만원대" → 100,000–199,999: one step of the amount's last significant
    digit."""
    lo = _amount(num, unit)
    if lo is None or lo <= 0:
        return None
    digits = num.replace(",", "").split(".")[0]
    zeros = len(digits) - len(digits.rstrip("0"))
    step = _UNITS.get(unit or "", 1) * 10 ** zeros
    return lo, lo + step - 1


@dataclass
class Query:
    """A query with its price bounds taken out (`text` is what is left to match)."""

    text: str
    min_price: float | None = None
    max_price: float | None = None

    @classmethod
    def parse(cls, query: str) -> Query:
        lo: float | None = None
        hi: float | None = None
        text = _KO_COMPOUND.sub(lambda m: f"{int(m.group(1)) * 10_000 + int(m.group(2)) * 1_000}", query)
        for rx, kind in ((_EN_RANGE, "range"), (_KO_BAND, "band"), (_EN_MAX, "max"), (_EN_MIN, "min"),
                         (_KO_MAX, "komax"), (_KO_MIN, "komin")):
            for m in rx.finditer(text):
                g = m.groups()
                if kind == "range":
                    a, ua, b, ub = g[:4] if g[0] else g[4:8]
                    lo, hi = _amount(a, ua), _amount(b, ub)
                elif kind == "band":
                    lo, hi = _band(g[0], g[1]) or (None, None)
                elif kind == "max":
                    hi = _amount(g[0], g[1]) if g[0] else _amount(g[2], g[3])
                elif kind == "min":
                    lo = _amount(*g)
                elif kind == "komax":
                    hi = _ko_amount(g)
                else:
                    lo = _ko_amount(g)
            text = rx.sub(" ", text)
        if lo is not None and hi is not None and lo > hi:  # "$100-$50": the shopper means between them
            lo, hi = hi, lo
        return cls(re.sub(r"\s+", " ", text).strip(), lo, hi)

    def admits(self, price: float | None) -> bool:
        if price is None:
            return self.min_price is None and self.max_price is None
        return ((self.min_price is None or price >= self.min_price)
                and (self.max_price is None or price <= self.max_price))


@dataclass
class Hit:
    item: Item
    product: Product
    score: float
    why: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"item_id": self.item.item_id, "product_id": self.product.product_id, "name": self.product.name,
                "options": self.item.options, "price": self.item.price, "available": self.item.available,
                "score": round(self.score, 4), "why": self.why}


def item_text(product: Product, item: Item) -> str:
    """What lexical and dense search read of an item: its product's name, category and description, and its
    options as "name: value"."""
    head = ". ".join(x for x in (product.name, product.category, product.description) if x)
    return f"{head}. " + "; ".join(f"{k}: {v}" for k, v in item.options.items())


class CatalogSearch:
    """Search over one shop's catalog; built once (embeddings cached in the catalog's database)."""

    def __init__(self, store: CatalogStore, embedder, reviews=None,  # noqa: ANN001 - an Embedder, a ReviewStore
                 reader: QueryReader | None = None, weights: dict[str, float] | None = None) -> None:
        self.embedder = embedder
        self.reader = reader
        self.weights = {**WEIGHTS, **(weights or {})}
        self.products = store.products()
        self.items = [it for it in store.items() if it.product_id in self.products]
        if not self.items:
            raise InputError("the catalog has no items; add them with `inhouse commerce catalog add`.")
        self.pids = list(self.products)
        self._pindex = {p: i for i, p in enumerate(self.pids)}
        self.item_product = np.array([self._pindex[it.product_id] for it in self.items])
        texts = [item_text(self.products[it.product_id], it) for it in self.items]
        # BM25 (the parameters of FTS5's bm25(), as in document search) over the items' terms.
        self._terms = [Counter(t) for t in lexical_terms_batch(texts)]
        self._len = np.array([sum(c.values()) for c in self._terms], dtype=np.float64)
        self._df = Counter(t for c in self._terms for t in c)
        self._vec = store.vectors(embedder, texts)
        self._pvec = store.vectors(embedder, [self.products[p].name for p in self.pids])
        self._pterms = [set(lexical_terms(self.products[p].name)) for p in self.pids]
        # Each product's values per option.
        self.values: dict[str, dict[str, list[str]]] = {}
        for it in self.items:
            for k, v in it.options.items():
                vals = self.values.setdefault(it.product_id, {}).setdefault(k, [])
                if v not in vals:
                    vals.append(v)
        values = sorted({v for it in self.items for v in it.options.values()})
        self._value_terms = {v: set(ts) for v, ts in zip(values, lexical_terms_batch(values), strict=True)}
        self._reviews = self._review_aspects(reviews)

    # ---- parts -----------------------------------------------------------------------------------------

    def _bm25(self, terms: Sequence[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
        n = len(self.items)
        avg = self._len.mean() or 1.0
        out = np.zeros(n)
        for t in set(terms):
            df = self._df.get(t, 0)
            if not df:
                continue
            idf = math.log((n - df + 0.5) / (df + 0.5) + 1.0)
            tf = np.array([c.get(t, 0) for c in self._terms], dtype=np.float64)
            out += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * self._len / avg))
        return out

    def _review_aspects(self, reviews) -> dict[str, dict[str, tuple[int, int, list[str]]]]:  # noqa: ANN001
        if reviews is None:
            return {}
        self._aspects = reviews.aspects()
        return reviews.aspect_counts() if self._aspects else {}

    def _query_aspects(self, text: str) -> list[str]:
        if not self._reviews:
            return []
        return [name for name, _, _ in mentions(analyze([text])[0], (0, len(text)), self._aspects)]

    # ---- search ----------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, method: str = "attribute", reader: QueryReader | None = None
               ) -> tuple[Query, list[Hit]]:
        """The `k` best items for `query` (price bounds applied as a filter, except by the plain baselines
        `bm25`, `dense` and `hybrid`, which rank by item text alone); `reader`: this search's query reader
        instead of the one given when built."""
        reader = reader if reader is not None else self.reader
        if method not in METHODS:
            raise InputError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}.")
        if not query.strip():
            raise InputError("an empty query; say what you are looking for.")
        q = Query.parse(query) if method == "attribute" else Query(query.strip())
        text = q.text or query
        terms = lexical_terms(text)
        qvec = self.embedder.embed_query(text)
        bm = self._bm25(terms)
        dense = self._vec @ qvec
        none: list[list[dict]] = [[] for _ in self.items]
        if method == "bm25":
            return q, self._top(bm, k, none, None)
        if method == "dense":
            return q, self._top(dense, k, none, None)
        bm_n = bm / bm.max() if bm.max() > 0 else bm
        if method == "hybrid":
            return q, self._top(bm_n + dense, k, none, None)

        w = self.weights
        qset = set(terms)
        # A product's similarity: its name's, or its closest item's text where that is closer.
        psim = self._pvec @ qvec
        np.maximum.at(psim, self.item_product, dense)
        named = np.array([1.0 if ts and ts <= qset else 0.0 for ts in self._pterms])
        score = (w["product"] * (psim - psim.max()) + w["named"] * named)[self.item_product]
        score += w["bm25"] * bm_n + w["dense"] * dense
        reading = None
        if reader is not None:
            shortlist = [self.pids[i] for i in np.argsort(-psim, kind="stable")[:reader.shortlist]]
            reading = reader.read(text, [(p, self.products[p].name, self.values.get(p, {})) for p in shortlist])
        asked = self._query_aspects(text)
        why: list[list[dict]] = []
        for i, it in enumerate(self.items):
            reasons: list[dict] = []
            extra = 0.0
            picked = reading is not None and reading.product_id == it.product_id
            if picked:
                extra += w["pick_product"]
            for opt, val in it.options.items():
                siblings = self.values[it.product_id][opt]
                if len(siblings) < 2:
                    continue
                vt = self._value_terms.get(val, set())
                # Named by word, unless a sibling that says more is named too ("Wi-Fi + Cellular" over "Wi-Fi").
                said = bool(vt) and vt <= qset and not any(vt < self._value_terms.get(s, set()) <= qset
                                                           for s in siblings)
                chosen = picked and reading.options.get(opt) == val  # type: ignore[union-attr]
                extra += (w["value"] if said else 0.0) + (w["pick_option"] if chosen else 0.0)
                if said or chosen:
                    reasons.append({"source": "spec", "option": opt, "value": val,
                                    "by": "word" if said else "model"})
            for aspect in asked:
                pos, neg, ids = self._reviews.get(it.product_id, {}).get(aspect, (0, 0, []))
                if pos or neg:
                    extra += w["review"] * (pos - neg) / (pos + neg + 2)
                    reasons.append({"source": "reviews", "aspect": aspect, "positive": pos, "negative": neg,
                                    "reviews": ids})
            score[i] += extra + (0.01 if it.available else 0.0)
            why.append(reasons)
        return q, self._top(score, k, why, q)

    def _top(self, score: np.ndarray, k: int, why: list[list[dict]], q: Query | None) -> list[Hit]:
        order = np.argsort(-score, kind="stable")
        hits: list[Hit] = []
        for i in order:
            it = self.items[i]
            if q is not None and not q.admits(it.price):
                continue
            hits.append(Hit(it, self.products[it.product_id], float(score[i]), why[i]))
            if len(hits) >= k:
                break
        return hits


@dataclass
class Reading:
    """What the model read in a query: the product it means (None: none of the shortlist) and, per option,
    the value asked for or implied (options it does not say are left out)."""

    product_id: str | None
    options: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # the model's time


_READ_SYSTEM = ("You read a shopper's search query against a shop's catalog. The query may be in Korean or "
                "English. Answer with JSON only.")
ANY = "any"
READER_VERSION = "1"  # bump when the prompts change: cached readings are read again


def _product_task(query: str, names: Sequence[str]) -> str:
    return f"Query: {query}\nWhich product does the shopper want? Choose one of: {', '.join(names)}; or none."


def _options_task(query: str, name: str, options: dict[str, list[str]]) -> str:
    lines = "\n".join(f"- {o}: {', '.join(v)}" for o, v in options.items())
    return (f"Query: {query}\nProduct: {name}\nIts options and their values:\n{lines}\nFor each option, choose "
            f"the value the query asks for or clearly implies; choose \"{ANY}\" when the query does not say.")


class QueryReader:
    """Reads a query with a local model under JSON schemas: first which of the `shortlist` best products it
    means, then, for that product, which value of each option it asks for or implies ("any" where it says
    nothing). Readings are cached per (query, shortlist)."""

    shortlist = 4

    def __init__(self, model) -> None:  # noqa: ANN001 - a ChatModel
        if not getattr(model, "supports_json_schema", False):
            raise InputError(f"model {getattr(model, 'name', model)!r} cannot constrain its output to a JSON "
                             "schema; reading queries needs one that can (llama.cpp, or an engine with json_schema).")
        self.model = model
        self.cache: dict[str, Reading] = {}

    def _form(self, task: str, schema: dict, max_tokens: int) -> dict:
        messages = [{"role": "system", "content": _READ_SYSTEM}, {"role": "user", "content": task}]
        reply = self.model.complete(messages, max_tokens=max_tokens, temperature=0.0, json_schema=schema)
        try:
            value = json.loads(reply.text)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def read(self, query: str, candidates: Sequence[tuple[str, str, dict[str, list[str]]]]) -> Reading:
        """`candidates`: (product id, name, {option: values}) of the best products, best first."""
        key = repr((READER_VERSION, query, [(p, n, sorted(v.items())) for p, n, v in candidates]))
        if key in self.cache:
            return self.cache[key]
        t0 = time.perf_counter()
        names = [n for _, n, _ in candidates]
        got = self._form(_product_task(query, names),
                         {"type": "object", "properties": {"product": {"enum": [*names, "none"]}},
                          "required": ["product"]}, 40)
        if got.get("product") not in names:
            reading = Reading(None, seconds=time.perf_counter() - t0)
        else:
            pid, name, values = candidates[names.index(got["product"])]
            asked = {o: v for o, v in values.items() if len(v) > 1}
            picks = self._form(
                _options_task(query, name, asked),
                {"type": "object", "properties": {o: {"enum": [*v, ANY]} for o, v in asked.items()},
                 "required": list(asked)}, 40 + 25 * len(asked)) if asked else {}
            reading = Reading(pid, {o: v for o, v in picks.items() if o in asked and v in asked[o]},
                              time.perf_counter() - t0)
        self.cache[key] = reading
        return reading


def _version(*paths: Path) -> tuple:
    """What changes when a SQLite file is written: its size and time, and its write-ahead log's."""
    out = []
    for path in paths:
        for f in (path, path.with_name(path.name + "-wal")):
            try:
                st = f.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                out.append(None)
    return tuple(out)


class SearchCache:
    """One built `CatalogSearch` per shop (its BM25 statistics, vectors and review aspects in memory), rebuilt
    when the shop's catalog or reviews file has been written since; the `size` shops used last are kept."""

    def __init__(self, embedder, size: int = 16) -> None:  # noqa: ANN001 - an Embedder
        self.embedder, self.size = embedder, size
        self._built: OrderedDict[str, tuple[tuple, CatalogSearch]] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0

    def get(self, tenant: str, base: Path | None = None) -> CatalogSearch:
        """The shop's search, built now if its files changed (NotFoundError for a shop without a catalog)."""
        key = f"{base}/{tenant}"
        # Read before building: a write during the build shows as a newer version on the next call.
        version = _version(catalog_path(tenant, base), reviews_path(tenant, base))
        with self._lock:
            if (hit := self._built.get(key)) is not None and hit[0] == version:
                self._built.move_to_end(key)
                return hit[1]
        store = open_catalog(tenant, base=base)
        reviews = reviews_if_any(tenant, base)
        try:
            engine = CatalogSearch(store, self.embedder, reviews=reviews)
        finally:
            store.close()
            if reviews is not None:
                reviews.close()
        # (A first build caches the items' vectors in the catalog, so the next call builds once more.)
        with self._lock:
            self.builds += 1
            self._built[key] = (version, engine)
            self._built.move_to_end(key)
            while len(self._built) > self.size:
                self._built.popitem(last=False)
        return engine
