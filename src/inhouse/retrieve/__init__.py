"""Hybrid retrieval: lexical (BM25 over morphemes) + dense (embeddings), fused by weighted RRF.

Both retrievers run inside the store with the principal's tenant and groups in the query, and each
fetches `candidates` results before fusion (txtai's pattern). When some chunks have no vector yet, the
search still answers (those chunks compete lexically only) and says so in `warnings`.

Chunks leave retrieval only through the principal's reader view (inhouse.guard.view): injected
instructions neutralized, PII masked unless the reader is cleared. `search` and `read_chunks` are the two
doors every surface uses (CLI, HTTP routes, the answer pipeline), so none of them sees stored text raw.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from inhouse.config import Settings
from inhouse.errors import InputError
from inhouse.guard.view import ReaderView
from inhouse.protocols import Embedder, Store
from inhouse.text import lexical_terms
from inhouse.types import Chunk, Hit, Principal

log = logging.getLogger(__name__)

MODES = ("hybrid", "lexical", "dense")
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inhouse-embed")


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out: dict = {"hits": [h.to_json() for h in self.hits]}
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def rrf(
    rankings: dict[str, list[int]], weights: dict[str, float], k: int = 60
) -> list[tuple[int, float, dict[str, int]]]:
    """Weighted reciprocal rank fusion (Cormack et al., SIGIR 2009): score = Σ w / (k + rank)."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ids in rankings.items():
        w = weights.get(name, 1.0)
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
            ranks.setdefault(cid, {})[name] = rank
    fused = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(cid, s, ranks[cid]) for cid, s in fused]


def snippet(text: str, terms: list[str], width: int = 200) -> str:
    """The `width`-character window of `text` with the most query terms, terms wrapped in **…**."""
    needles = sorted({t for t in terms if len(t) >= 2 or not t.isascii()}, key=len, reverse=True)
    if not needles:
        return text[:width] + ("…" if len(text) > width else "")
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    matches = [m.start() for m in pattern.finditer(text)]
    start = 0
    if matches and len(text) > width:
        best = max(matches, key=lambda s: sum(1 for m in matches if s <= m < s + width))
        start = max(0, min(best - width // 4, len(text) - width))
        space = max(text.rfind(c, max(0, start - 20), start + 1) for c in " \n\t")
        start = space + 1 if space > 0 else start
    window = text[start : start + width]
    marked = pattern.sub(lambda m: f"**{m.group(0)}**", window)
    return ("…" if start > 0 else "") + marked + ("…" if start + width < len(text) else "")


def read_chunks(store: Store, principal: Principal, ids: list[int], view: ReaderView | None = None) -> dict[int, Chunk]:
    """The chunks among `ids` that `principal` may read, as their reader view shows them."""
    view = view or ReaderView(principal)
    return {cid: view.chunk(ch) for cid, ch in store.get_chunks(principal, ids).items()}


def search(store: Store, principal: Principal, query: str, settings: Settings, k: int = 10,
           mode: str = "hybrid", embedder: Embedder | None = None, view: ReaderView | None = None) -> SearchResult:
    """Top-k chunks for `query` that `principal` may read, best first, as `view` (default: the principal's
    reader view) shows them."""
    if mode not in MODES:
        raise InputError(f"unknown search mode '{mode}'; choose one of: {', '.join(MODES)}.")
    if k < 1:
        raise InputError("k must be at least 1.")
    query = query.strip()
    if not query:
        raise InputError("the query is empty; type a question or keywords.")
    warnings: list[str] = []
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    terms = lexical_terms(query)
    timings["terms"] = time.perf_counter() - t0
    n = max(settings.candidates, k)
    rankings: dict[str, list[int]] = {}
    raw_scores: dict[str, dict[int, float]] = {}
    query_vector = None
    if mode in ("hybrid", "dense"):
        if embedder is None:
            raise InputError(f"search mode '{mode}' needs an embedder.")
        chunks, embedded = store.embedding_status(embedder.name, principal)
        if chunks > embedded:
            warnings.append(
                f"embeddings unfinished: {chunks - embedded} of {chunks} chunks have no vector "
                "yet and are searched lexically only; run `inhouse embed` to finish."
            )
        if embedded:
            # The query is embedded on another core while the lexical search runs (both release the GIL).
            query_vector = _pool.submit(embedder.embed_query, query)
    if mode in ("hybrid", "lexical"):
        t = time.perf_counter()
        res = store.lexical_search(principal, terms, n)
        rankings["lexical"] = [i for i, _ in res]
        raw_scores["lexical"] = dict(res)
        timings["lexical"] = time.perf_counter() - t
    if query_vector is not None:
        t = time.perf_counter()
        vector = query_vector.result()
        timings["embed_wait"] = time.perf_counter() - t
        res = store.dense_search(principal, vector, embedder.name, n)
        rankings["dense"] = [i for i, _ in res]
        raw_scores["dense"] = dict(res)
        timings["dense"] = time.perf_counter() - t - timings["embed_wait"]
    weights = {"lexical": settings.lexical_weight, "dense": settings.dense_weight}
    if len(rankings) == 1:
        name = next(iter(rankings))
        fused = [(cid, raw_scores[name][cid], {name: r}) for r, cid in enumerate(rankings[name], start=1)]
    else:
        fused = rrf(rankings, weights, settings.rrf_k)
    fused = fused[:k]
    t = time.perf_counter()
    chunks = read_chunks(store, principal, [cid for cid, _, _ in fused], view)
    timings["read"] = time.perf_counter() - t
    hits = []
    for cid, score, ranks in fused:
        ch = chunks.get(cid)
        if ch is None:  # deleted between the search and the fetch
            continue
        hits.append(Hit(chunk_id=cid, doc_path=ch.doc_path, page=ch.page, score=score, text=ch.text,
                        snippet=snippet(ch.text, terms + query.split()), heading_path=ch.heading_path, ranks=ranks,
                        flags=ch.flags))
    if log.isEnabledFor(logging.DEBUG):
        # Counts and timings only: the query and the chunks' text stay out of the logs.
        log.debug("search %s for %s@%s: %d terms, %s candidates, %d hits in %.1f ms (%s)", mode, principal.user,
                  principal.tenant, len(terms), "+".join(f"{len(r)} {name}" for name, r in rankings.items()) or "no",
                  len(hits), (time.perf_counter() - t0) * 1000,
                  ", ".join(f"{name} {s * 1000:.1f} ms" for name, s in timings.items()))
    return SearchResult(query=query, mode=mode, hits=hits, warnings=warnings)


def lookup(store: Store, principal: Principal, settings: Settings, embedder: Embedder | None = None,
           k: int = 1) -> Callable[[str], list[Hit]]:
    """A search of what `principal` may read, as a function of the query: hybrid when an embedder is given,
    words only otherwise. The passages an application cites (a shop's policies, a retailer's rules)."""
    mode = "hybrid" if embedder is not None else "lexical"

    def find(query: str) -> list[Hit]:
        return search(store, principal, query, settings, k=k, mode=mode, embedder=embedder).hits

    return find
