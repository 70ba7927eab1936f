"""Catalog search by subjective attributes: nDCG@10 on 88 hand-written Korean and English queries.

Catalog: τ-bench retail's 50 products and 591 items (variants with spec options and prices; MIT). English
as published; Korean from the hand-written names in bench/data/commerce/tau_catalog_ko.json (products,
option names and values; prices in won at 1,300 won to the dollar), read through the CSV/JSONL catalog reader.

Queries (bench/data/commerce/search_queries.jsonl; protocol in docs/commerce.md): 46 English and 42 Korean,
written by hand from the catalog the way a shopper asks ("earbuds I can swim with", "원룸에 좋은 조용한
공기청정기"), each with the products it means, the spec values that satisfy it (any of a list, per option)
and a price ceiling if it names one. An item's grade: 0 if it is another product or over the ceiling; else 3
if it meets every condition its product has, 2 if at least half, 1 if none. Odd-numbered queries are the
development split (weights chosen there with --tune), even-numbered the test split.

Methods, same catalog and queries: BM25 over each item's text (product name, options as "name: value"), the
e5 similarity of that text, their sum (hybrid), and the attribute search (`apps/commerce/search.py`) without
and with the local model reading the query (`QueryReader`; readings cached in bench/.cache/commerce_search).

    python bench/commerce_search.py [--model qwen2.5-coder-1.5b] [--tune]

Writes bench/results/commerce_search.json and prints tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
HERE = ROOT / "bench" / "data" / "commerce"

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.commerce.catalog import CatalogStore, read_catalog  # noqa: E402
from inhouse.apps.commerce.search import (  # noqa: E402
    METHODS,
    READER_VERSION,
    WEIGHTS,
    CatalogSearch,
    QueryReader,
    Reading,
)
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.chat import LlamaCppChat  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402

console = Console()
K = 10
CACHE = ROOT / "bench" / ".cache" / "commerce_search"


def korean_catalog(path: Path) -> None:
    """Write the Korean catalog as JSONL rows (one per item) from τ-bench's products and the Korean names."""
    names = json.loads((HERE / "tau_catalog_ko.json").read_text("utf-8"))
    rate = names["won_per_dollar"]
    products = json.loads((DATA / "commerce" / "tau_retail" / "products.json").read_text("utf-8"))
    with path.open("w", encoding="utf-8") as f:
        for p in products.values():
            for v in p["variants"].values():
                opts = {names["options"][k]: names["values"].get(val, val) for k, val in v["options"].items()}
                f.write(json.dumps({"product_id": p["product_id"], "상품명": names["products"][p["name"]],
                                    "item_id": v["item_id"], "가격": round(v["price"] * rate, -2),
                                    "재고": "있음" if v["available"] else "품절", "options": opts},
                                   ensure_ascii=False) + "\n")


def grade(q: dict, product: str, options: dict, price: float | None) -> int:
    if product not in q["products"]:
        return 0
    if q["max_price"] is not None and (price is None or price > q["max_price"]):
        return 0
    conds = {o: vals for o, vals in q["conditions"].items() if o in options}
    if not conds:
        return 3
    met = sum(options[o] in vals for o, vals in conds.items())
    return 3 if met == len(conds) else 2 if 2 * met >= len(conds) else 1


def ndcg(gains: list[int], ideal: list[int], k: int = K) -> float:
    def dcg(g: list[int]) -> float:
        return sum((2 ** x - 1) / math.log2(i + 2) for i, x in enumerate(g[:k]))
    best = dcg(sorted(ideal, reverse=True))
    return dcg(gains) / best if best else 0.0


def score_queries(search: CatalogSearch, queries: list[dict], truth: dict, prices: dict, method: str,
                  reader: QueryReader | None) -> list[float]:
    out = []
    search.reader = reader
    for q in queries:
        ideal = [grade(q, truth[it.item_id][0], truth[it.item_id][1], prices[it.item_id]) for it in search.items]
        _, hits = search.search(q["query"], k=K, method=method)
        gains = [grade(q, truth[h.item.item_id][0], truth[h.item.item_id][1], h.item.price) for h in hits]
        out.append(ndcg(gains, ideal))
    return out


def bootstrap(a: list[float], b: list[float], n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n, len(d)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune", action="store_true", help="grid-search the weights on the development queries")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", help="the model that reads queries ('' for none)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "commerce_search.json"))
    args = ap.parse_args()

    queries = [json.loads(x) for x in (HERE / "search_queries.jsonl").read_text("utf-8").splitlines() if x.strip()]
    products = json.loads((DATA / "commerce" / "tau_retail" / "products.json").read_text("utf-8"))
    truth = {v["item_id"]: (p["name"], v["options"]) for p in products.values() for v in p["variants"].values()}
    embedder = load_embedder("e5-small")
    tmp = Path(tempfile.mkdtemp(prefix="inhouse-search-"))
    ko_file = tmp / "catalog_ko.jsonl"
    korean_catalog(ko_file)
    searches: dict[str, CatalogSearch] = {}
    prices: dict[str, dict[str, float | None]] = {}
    t0 = time.perf_counter()
    for lang, path in (("en", DATA / "commerce" / "tau_retail" / "products.json"), ("ko", ko_file)):
        store = CatalogStore(tmp / f"catalog_{lang}.sqlite")
        store.add(*read_catalog(path))
        searches[lang] = CatalogSearch(store, embedder)
        prices[lang] = {it.item_id: it.price for it in searches[lang].items}
    build_s = time.perf_counter() - t0

    reader = None
    if args.model:
        name, path = Registry().resolve(args.model)
        reader = QueryReader(LlamaCppChat(path, name=name, n_ctx=Settings().n_ctx, n_threads=args.threads))
        cache_file = CACHE / f"readings_{name}.json"
        if cache_file.exists():
            reader.cache = {k: Reading(**v) for k, v in json.loads(cache_file.read_text("utf-8")).items()
                            if k.startswith(repr((READER_VERSION,))[:-2])}  # this version's prompts only

    def run(method: str, subset: list[dict], with_reader: bool = False) -> list[float]:
        out = []
        for lang in ("en", "ko"):
            qs = [q for q in subset if q["lang"] == lang]
            out += score_queries(searches[lang], qs, truth, prices[lang], method, reader if with_reader else None)
        if with_reader:
            atomic_write_json(cache_file, {k: {"product_id": r.product_id, "options": r.options,
                                               "seconds": round(r.seconds, 3)} for k, r in reader.cache.items()})
        return out

    variants = [(m, m, False) for m in METHODS] + ([("attribute+model", "attribute", True)] if reader else [])

    if args.tune:
        dev = [q for q in queries if q["split"] == "dev"]
        grid = {"product": [4.0, 8.0, 16.0], "dense": [2.0, 4.0], "bm25": [0.0, 0.5], "value": [0.0, 0.5],
                "pick_product": [0.0, 0.5, 1.0, 2.0], "pick_option": [0.0, 0.25, 0.5, 1.0]}
        if reader is None:
            grid.update(pick_product=[0.0], pick_option=[0.0])
        best = None
        for values in itertools.product(*grid.values()):
            w = dict(zip(grid, values, strict=True))
            for s in searches.values():
                s.weights = {**WEIGHTS, **w}
            m = float(np.mean(run("attribute", dev, reader is not None)))
            if best is None or m > best[0]:
                best = (m, w)
            console.print(f"{w} dev nDCG@10 {m:.3f}")
        console.print(f"best on dev: {best[1]} {best[0]:.3f}")
        return

    rows = {}
    ordered = [q for lang in ("en", "ko") for q in queries if q["lang"] == lang]
    for label, method, with_reader in variants:
        t = time.perf_counter()
        per = {q["id"]: s for q, s in zip(ordered, run(method, queries, with_reader), strict=True)}
        rows[label] = {"per_query": per, "seconds_per_query": (time.perf_counter() - t) / len(queries)}
    labels = [v[0] for v in variants]

    def mean(method: str, pred) -> float:  # noqa: ANN001
        return float(np.mean([rows[method]["per_query"][q["id"]] for q in queries if pred(q)]))

    groups = {"all": lambda q: True, "test": lambda q: q["split"] == "test", "dev": lambda q: q["split"] == "dev",
              "en": lambda q: q["lang"] == "en", "ko": lambda q: q["lang"] == "ko",
              "en test": lambda q: q["lang"] == "en" and q["split"] == "test",
              "ko test": lambda q: q["lang"] == "ko" and q["split"] == "test"}
    table = Table(title=f"nDCG@{K}: {len(queries)} queries over {len(truth)} items")
    table.add_column("method")
    for g in groups:
        table.add_column(f"{g} ({sum(map(groups[g], queries))})", justify="right")
    table.add_column("ms/query", justify="right")
    summary: dict[str, dict] = {}
    for method in labels:
        summary[method] = {g: round(mean(method, f), 4) for g, f in groups.items()}
        table.add_row(method, *(f"{summary[method][g]:.3f}" for g in groups),
                      f"{1000 * rows[method]['seconds_per_query']:.0f}")
    console.print(table)
    if reader:
        console.print(f"the model's reading: {np.mean([r.seconds for r in reader.cache.values()]):.1f} s a query "
                      "(readings cached in bench/.cache/commerce_search; the ms/query column excludes cached ones)")
    test = [q for q in queries if q["split"] == "test"]
    best = "attribute+model" if reader else "attribute"
    a = [rows[best]["per_query"][q["id"]] for q in test]
    b = [rows["bm25"]["per_query"][q["id"]] for q in test]
    lo, hi = bootstrap(a, b)
    console.print(f"{best} − bm25 on the test queries: {np.mean(a) - np.mean(b):+.3f} (95% bootstrap CI "
                  f"{lo:+.3f} … {hi:+.3f}); targets: ≥ +0.10 and ≥ 0.75")
    atomic_write_json(Path(args.out), {
        "bench": "commerce_search", "k": K, "queries": len(queries), "items": len(truth),
        "weights": WEIGHTS, "build_seconds": round(build_s, 1), "ndcg": summary,
        "model": args.model or None, "compared": best,
        "model_seconds_per_query": round(float(np.mean([r.seconds for r in reader.cache.values()])), 2)
        if reader else None,
        "test_gain_over_bm25": {"mean": round(float(np.mean(a) - np.mean(b)), 4), "ci95": [round(lo, 4), round(hi, 4)]},
        "per_query": {m: rows[m]["per_query"] for m in labels},
        "ms_per_query": {m: round(1000 * rows[m]["seconds_per_query"], 1) for m in labels}})
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
