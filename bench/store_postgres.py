"""The PostgreSQL + pgvector store against the embedded SQLite store, in the same run.

1. Retrieval: bench/retrieval.py's stores (KorQuAD 1.0 dev and XQuAD-en paragraphs ingested and embedded with
   e5-small, cached in bench/.cache/retrieval) copied to PostgreSQL with `inhouse store copy`'s code; every
   question searched on both (lexical, dense, hybrid): Recall@1, Recall@5, MRR@10 side by side.
2. Latency at `--chunks` chunks: bench/ingest.py's synthetic store (real sentences, two tenants, five access
   groups, clustered random vectors) built in SQLite and copied to PostgreSQL; p50/p95 of `search()` for the
   same queries on both (permission filters, fusion, snippets; the query embedding included).
3. The copy: `copy_store`'s bulk load (COPY in batches, the HNSW index built once at the end) for every chunk,
   against the per-document path (`replace_document`, one transaction each, the index grown row by row) for
   the first `--baseline-docs` documents into another database: chunks per second of each.

The server is a throwaway PostgreSQL 18 + pgvector 0.8 on loopback (tests/pgserver.py).

    python bench/store_postgres.py [--limit N] [--chunks 100000] [--queries 200] [--skip-retrieval]

Writes bench/results/store_postgres.json (the latency part under `latency` at 100,000 chunks, `latency_N` at
another size; parts not run are kept from the last run) and prints tables. Heavy: run under flock.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.ingest import build_big_store, real_text  # noqa: E402
from bench.retrieval import doc_name, doc_ranking, metrics, prepare_store  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.retrieve import search  # noqa: E402
from inhouse.store.copy import _source_rows, copy_store, written  # noqa: E402
from inhouse.store.postgres import PostgresStore  # noqa: E402
from inhouse.types import Principal  # noqa: E402
from tests import pgserver  # noqa: E402

console = Console(width=150)


def new_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(server, dbname=name)


def retrieval(server: str, limit: int | None) -> dict:
    cache = ROOT / "bench" / ".cache" / "retrieval"
    settings = Settings()
    embedder = load_embedder("e5-small")
    out = {}
    for lang in ("ko", "en"):
        sqlite, paragraphs, qa, _ = prepare_store(lang, cache, console)
        pg = PostgresStore(new_database(server, f"retrieval_{lang}"))
        t0 = time.perf_counter()
        report = copy_store(sqlite, pg)
        copy_s = time.perf_counter() - t0
        qa = qa[:limit] if limit else qa
        index_of = {doc_name(i): i for i in range(len(paragraphs))}
        principal = Principal("bench", "bench", ())
        gold = [g for _, g in qa]
        row = {"questions": len(qa), "chunks": report.chunks, "copy_s": round(copy_s, 1)}
        for mode in ("lexical", "dense", "hybrid"):
            for name, store in (("sqlite", sqlite), ("postgres", pg)):
                t0 = time.perf_counter()
                ranked = [doc_ranking(search(store, principal, q, settings, k=30, mode=mode, embedder=embedder).hits,
                                      index_of) for q, _ in qa]
                ms = 1000 * (time.perf_counter() - t0) / len(qa)
                row[f"{mode}_{name}"] = {k: round(v, 4) for k, v in metrics(ranked, gold).items()} | {
                    "ms_per_query": round(ms, 1)}
            console.print(f"  {lang} {mode}: R@5 sqlite {row[f'{mode}_sqlite']['recall@5']} "
                          f"postgres {row[f'{mode}_postgres']['recall@5']}")
        out[lang] = row
        sqlite.close()
        pg.close()
    return out


class Precomputed:
    """The e5-small query vectors computed before the clock starts, so the search's own time is measured."""

    def __init__(self, embedder, queries: list[str]) -> None:  # noqa: ANN001
        self.name, self.dim = embedder.name, embedder.dim
        self.vectors = {q: embedder.embed_query(q) for q in queries}
        self.embedder = embedder

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text] if text in self.vectors else self.embedder.embed_query(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_query(t) for t in texts])

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def per_document_copy(sqlite, server: str, n_docs: int) -> dict:  # noqa: ANN001
    """The first `n_docs` documents copied one transaction each (the path a resumed copy takes for documents
    already in the target), into a database of their own: the baseline of the bulk load."""
    pg = PostgresStore(new_database(server, "copy_baseline"))
    chunks = 0
    t0 = time.perf_counter()
    for doc in sqlite.list_documents()[:n_docs]:
        rows, vectors = _source_rows(sqlite, doc.tenant, doc.path)
        texts, terms, arrays = written(rows, {m: [v.get(r[0]) for r in rows] for m, v in vectors.items()})
        pg.replace_document(doc, texts, terms, vectors=arrays)
        chunks += len(rows)
    seconds = time.perf_counter() - t0
    pg.close()
    return {"documents": n_docs, "chunks": chunks, "seconds": round(seconds, 1),
            "chunks_per_s": round(chunks / seconds, 1)}


def latency(server: str, n_chunks: int, n_queries: int, baseline_docs: int) -> dict:
    paragraphs, questions = real_text()
    queries = random.Random(3).sample(questions, n_queries)
    settings = Settings()
    embedder = load_embedder("e5-small")
    principal = Principal("acme", "kim", ("staff", "hr"))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sqlite, _ = build_big_store(Path(tmp) / "big.db", paragraphs, n_chunks)
        build_s = time.perf_counter() - t0
        baseline = per_document_copy(sqlite, server, baseline_docs)
        console.print(f"  per-document copy: {baseline}")
        pg = PostgresStore(new_database(server, "latency"))
        phases: dict[str, float] = {}
        t0 = last = time.perf_counter()
        current = "documents"

        def progress(phase: str, done: int, total: int) -> None:
            nonlocal last, current
            if phase != current:  # the phase before this one ended: its seconds
                now = time.perf_counter()
                phases[current], current, last = round(now - last, 1), phase, now
            if phase == "documents" and done % 5000 == 0:
                console.print(f"  copied {done}/{total} documents", end="\r")

        copy_store(sqlite, pg, progress=progress)
        phases[current] = round(time.perf_counter() - last, 1)
        copy_s = time.perf_counter() - t0
        n = sqlite.stats()["chunks"]
        out = {"chunks": n, "queries": n_queries, "sqlite_build_s": round(build_s, 1),
               "postgres_copy_s": round(copy_s, 1), "postgres_copy_phases_s": phases,
               "postgres_copy_chunks_per_s": round(n / copy_s, 1), "per_document_copy": baseline,
               "postgres_mb": round(pg.stats()["store_bytes"] / 1e6, 1)}
        console.print(f"  bulk copy: {n} chunks in {copy_s:.1f} s ({n / copy_s:.0f}/s; phases {phases}); "
                      f"per document: {baseline['chunks_per_s']}/s")
        given = Precomputed(embedder, queries)
        for name, store in (("sqlite", sqlite), ("postgres", pg)):
            search(store, principal, "warm up", settings, mode="hybrid", embedder=embedder)
            for mode in ("lexical", "dense", "hybrid"):
                for label, emb in (("", embedder), ("_vector_given", given)):
                    if mode == "lexical" and label:
                        continue
                    times = []
                    for q in queries:
                        t0 = time.perf_counter()
                        search(store, principal, q, settings, k=10, mode=mode, embedder=emb)
                        times.append((time.perf_counter() - t0) * 1000)
                    out[f"{mode}{label}_{name}"] = {"p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
                                                    "mean_ms": round(statistics.mean(times), 1)}
                    console.print(f"  {name} {mode}{label}: {out[f'{mode}{label}_{name}']}")
        # The HNSW index is approximate: its recall@10 against SQLite's exact scan of the same vectors, ties
        # counted (a hit scoring at least the exact 10th's is a right one). Two kinds of query: a stored vector
        # moved a little (a question near its chunk, as real ones are), and the e5 question vectors, which
        # these random vectors leave almost equidistant (HNSW's worst case).
        index = sqlite._vectors["e5-small"]
        visible = sqlite.chunk_ids(principal)
        rng = np.random.default_rng(4)
        stored = sqlite.get_vectors("e5-small", [visible[i] for i in rng.choice(len(visible), n_queries, False)])
        near = [v / np.linalg.norm(v) for v in
                (np.asarray(x) + 0.05 * rng.standard_normal(len(x)).astype(np.float32) for x in stored.values())]
        for label, vectors in (("near", near), ("unrelated", [embedder.embed_query(q) for q in queries])):
            recall = []
            for v in vectors:
                exact = index.search(principal, v, 10, exact=True)
                approx = pg.dense_search(principal, v, "e5-small", 10)
                kth = min(s for _, s in exact)
                recall.append(sum(s >= kth - 1e-5 for _, s in approx) / len(exact))
            out[f"postgres_hnsw_recall_at_10_{label}"] = round(statistics.mean(recall), 3)
        sqlite.close()
        pg.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="first N questions per language (default all)")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-retrieval", action="store_true")
    ap.add_argument("--baseline-docs", type=int, default=500,
                    help="documents copied one transaction each, the bulk copy's baseline")
    args = ap.parse_args()
    path = ROOT / "bench" / "results" / "store_postgres.json"
    result = json.loads(path.read_text("utf-8")) if path.exists() else {}
    key = "latency" if args.chunks == 100_000 else f"latency_{args.chunks}"
    base = Path(tempfile.mkdtemp(prefix="inhouse-pgbench-"))
    server = pgserver.start(base)
    try:
        if not args.skip_retrieval:
            result["retrieval"] = retrieval(server, args.limit)
        result[key] = latency(server, args.chunks, args.queries, args.baseline_docs)
    finally:
        pgserver.stop(base)
    atomic_write_json(path, result)
    if not args.skip_retrieval:
        t = Table(title="Retrieval on both stores (same questions, same vectors)")
        for c in ("lang", "mode", "R@1 sqlite", "R@1 postgres", "R@5 sqlite", "R@5 postgres", "MRR sqlite",
                  "MRR postgres"):
            t.add_column(c)
        for lang, row in result["retrieval"].items():
            for mode in ("lexical", "dense", "hybrid"):
                a, b = row[f"{mode}_sqlite"], row[f"{mode}_postgres"]
                t.add_row(lang, mode, str(a["recall@1"]), str(b["recall@1"]), str(a["recall@5"]), str(b["recall@5"]),
                          str(a["mrr@10"]), str(b["mrr@10"]))
        console.print(t)
    lat = result[key]
    t = Table(title=f"search() latency at {lat['chunks']} chunks, {lat['queries']} queries (ms)")
    for c in ("mode", "sqlite p50", "sqlite p95", "postgres p50", "postgres p95"):
        t.add_column(c)
    for mode in ("lexical", "dense", "hybrid", "dense_vector_given", "hybrid_vector_given"):
        t.add_row(mode, str(lat[f"{mode}_sqlite"]["p50_ms"]), str(lat[f"{mode}_sqlite"]["p95_ms"]),
                  str(lat[f"{mode}_postgres"]["p50_ms"]), str(lat[f"{mode}_postgres"]["p95_ms"]))
    console.print(t)
    console.print(f"HNSW recall@10 against the exact scan: {lat['postgres_hnsw_recall_at_10_near']} (queries near "
                  f"their chunks), {lat['postgres_hnsw_recall_at_10_unrelated']} (unrelated e5 queries)")


if __name__ == "__main__":
    main()
