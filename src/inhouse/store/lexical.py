"""What every store shares about permissions and lexical search, so that a backend's results are the same:
access tokens, the tokenizer that reads chunk terms, and BM25 over the chunks one principal may read.

The tokenizer is SQLite FTS5's own (`porter unicode61 remove_diacritics 2`), run in an in-memory database:
the embedded store indexes with it, and any other backend indexes the tokens it gives, so a term matches
the same chunks everywhere (English words stemmed, "e-mail" two tokens, Korean morphemes as the analyser
wrote them).
"""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
import threading
from collections.abc import Sequence

import numpy as np

from inhouse.types import Principal

PUBLIC_GROUP = "*"  # documents ingested without groups are readable by everyone in their tenant
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"

# FTS5's unicode61 tokenizer splits text into runs of letters and digits; the analyser's terms are such runs
# already, save a few ("e-mail", "3.5") that it splits further.
_FTS_TOKEN = re.compile(r"[^\W_]+")


def lexical_length(terms: str) -> int:
    """A chunk's length for BM25: its number of lexical tokens, as the FTS5 tokenizer counts them."""
    return len(_FTS_TOKEN.findall(terms))


def groups_of(principal: Principal) -> list[str]:
    """The groups whose documents `principal` reads: its own and the public one."""
    return sorted(set(principal.groups) | {PUBLIC_GROUP})


def acl_token(tenant: str, group: str) -> str:
    """The token granting `group` of `tenant` read access: digits only, so no tokenizer or stemmer changes it
    and no query term (restricted to chunk terms) can meet it."""
    digest = hashlib.blake2b(f"{tenant}\x00{group}".encode(), digest_size=8).digest()
    return "9" + str(int.from_bytes(digest, "big")).zfill(20)


def acl_of(tenant: str, groups: Sequence[str]) -> str:
    """A chunk's access class: the tokens of every (tenant, group) that reads it, sorted, space-separated."""
    return " ".join(acl_token(tenant, g) for g in sorted(set(groups) or {PUBLIC_GROUP}))


def readable_classes(principal: Principal, classes: Sequence[str]) -> list[bool]:
    """For each access class, whether `principal` reads its chunks."""
    tokens = {acl_token(principal.tenant, g) for g in groups_of(principal)}
    return [not tokens.isdisjoint(acl.split()) for acl in classes]


class Tokenizer:
    """FTS5's tokenizer in a private in-memory database: each text's tokens with their positions."""

    # After a batch of more texts than this, the index is made anew: FTS5 keeps deleted rows' segments until
    # it merges them, and a tokenizer that once held a bulk load's postings took 47 ms a query thereafter.
    FRESH_AFTER = 256

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._create()

    def _create(self) -> None:
        self._conn.execute("DROP TABLE IF EXISTS v")
        self._conn.execute("DROP TABLE IF EXISTS t")
        self._conn.execute(f"CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = '{FTS_TOKENIZE}')")
        self._conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")

    def positions(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        """For each text, {token: its positions (token offsets), ascending}."""
        out: list[dict[str, list[int]]] = [{} for _ in texts]
        with self._lock:
            self._conn.execute("DELETE FROM t")
            self._conn.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(texts))
            for doc, term, offset in self._conn.execute("SELECT doc, term, offset FROM v ORDER BY doc, offset"):
                out[doc].setdefault(term, []).append(offset)
            if len(texts) > self.FRESH_AFTER:
                self._create()
            else:
                self._conn.execute("DELETE FROM t")
        return out

    def tokens(self, terms: Sequence[str]) -> list[tuple[str, ...]]:
        """Each query term as its tokens in order (one for most; a phrase for "e-mail")."""
        found = self.positions(terms)
        return [tuple(t for _, t in sorted((p, t) for t, ps in f.items() for p in ps)) for f in found]


def phrase_counts(lists: Sequence[dict[int, list[int]]]) -> dict[int, int]:
    """Occurrences of a phrase per chunk, from each of its tokens' {chunk id: positions}: the places where
    token i sits at position p + i for every i."""
    if not lists:
        return {}
    common = set(lists[0]).intersection(*lists[1:])
    out = {}
    for cid in common:
        starts = set(lists[0][cid])
        for i, later in enumerate(lists[1:], 1):
            starts &= {p - i for p in later[cid]}
        if starts:
            out[cid] = len(starts)
    return out


def bm25_idf(n_chunks: int, n: int) -> float:
    """FTS5's idf of a term in `n` of `n_chunks` chunks: ln((N − n + 0.5) / (n + 0.5)), at least 1e-6."""
    idf = math.log((n_chunks - n + 0.5) / (n + 0.5))
    return idf if idf > 0 else 1e-6


def bm25_top(n_chunks: int, total_length: int, postings: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
             limit: int, k1: float = 1.2, b: float = 0.75) -> list[tuple[int, float]]:
    """The `limit` best (chunk id, score), ties by id: Okapi BM25 (Robertson & Zaragoza, 2009) in FTS5's form
    (idf = ln((N − n + 0.5) / (n + 0.5)), at least 1e-6), with N, n and the average length counted over the
    principal's chunks. One posting list (ids, term frequencies, chunk lengths) per query term, among the
    principal's chunks alone."""
    avgdl = total_length / n_chunks if total_length else 1.0
    all_ids, all_scores = [], []
    for ids, tf, dl in postings:
        if not len(ids):
            continue
        idf = bm25_idf(n_chunks, len(ids))
        all_ids.append(ids)
        all_scores.append(idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)))
    if not all_ids:
        return []
    ids, where = np.unique(np.concatenate(all_ids), return_inverse=True)
    scores = np.bincount(where, weights=np.concatenate(all_scores), minlength=len(ids))
    best = np.lexsort((ids, -scores))[:limit]
    return [(int(ids[i]), float(scores[i])) for i in best]


def prune(terms: Sequence[str], df: dict[str, int], n_chunks: int, share: float, max_terms: int) -> list[str]:
    """The query terms worth searching: those in at most `share` of the principal's chunks (the three rarest
    when none is), at most `max_terms` of them, rarest first when cut. `df` counts each term among the
    principal's chunks (a term missing from it is rare everywhere)."""
    common = share * n_chunks
    kept = [t for t in terms if df.get(t, 0) <= common] or sorted(terms, key=lambda t: df.get(t, 0))[:3]
    if len(kept) > max_terms:
        kept = sorted(kept, key=lambda t: df.get(t, 0))[:max_terms]
    return kept


def embed_text(heading: Sequence[str], text: str) -> str:
    """What gets embedded: the heading path gives a chunk its context."""
    return (" > ".join(heading) + "\n" + text) if heading else text
