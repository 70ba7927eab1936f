"""Lexical scores, ranks, term pruning and counts depend only on what the principal may read.

BM25 over one shared FTS5 index would take N, the average length and each term's document frequency
from every tenant and group; here another tenant's documents (or a group's the principal is not in) must
move no score of the principal's, and the embeddings warning must count the principal's chunks alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inhouse.ingest import embed_pending
from inhouse.models.embedders import HashEmbedder
from inhouse.retrieve import search
from inhouse.store import SQLiteStore
from inhouse.types import Chunk, Document, Principal


@pytest.fixture
def store(any_store):
    """Every test here runs on each backend."""
    return any_store


B_DOCS = {
    "leave.txt": ["annual leave policies fifteen days", "leave request approval manager"],
    "pay.txt": ["salary payment date twenty fifth", "bonus policies annual review"],
    "trip.txt": ["business trip expense receipt", "trip approval director leave"],
}
QUERY = ["leave", "policies", "approval", "trip", "receipt"]


def _put(store: SQLiteStore, tenant: str, path: str, terms: list[str], groups: tuple[str, ...] = ()) -> None:
    chunks = [Chunk(text=t, page=None, heading_path=(), char_start=0, char_end=len(t), ordinal=i)
              for i, t in enumerate(terms)]
    store.replace_document(Document(path=path, tenant=tenant, groups=groups, sha256=path, kind="txt"), chunks, terms)


def _flood(store: SQLiteStore, tenant: str, n: int, groups: tuple[str, ...] = ()) -> None:
    """Documents full of the query's terms: in one shared index they would make them common."""
    for i in range(n):
        _put(store, tenant, f"flood{i}.txt", [f"leave leave policy approval trip trip receipt n{i}", "approval"],
             groups)


@pytest.fixture
def big(store: SQLiteStore) -> SQLiteStore:
    store.PRUNE_FROM_CHUNKS = 1  # prune common terms as a large store does
    store.COMMON_TERM_SHARE = 0.5
    return store


def test_another_tenants_documents_move_no_score_rank_or_pruning(big: SQLiteStore):
    for path, terms in B_DOCS.items():
        _put(big, "beta", path, terms)
    b = Principal("beta", "kim", ())
    before = big.lexical_search(b, QUERY, 10)
    assert len(before) == 5  # every chunk of beta but the one on salaries
    _flood(big, "alpha", 40)
    assert big.lexical_search(b, QUERY, 10) == before  # same ids, same order, same scores
    # Alpha, which reads its own flood, ranks differently: its statistics are its own.
    assert big.lexical_search(Principal("alpha", "lee", ()), QUERY, 10) != before


def test_a_group_the_principal_is_not_in_moves_no_score(big: SQLiteStore):
    for path, terms in B_DOCS.items():
        _put(big, "beta", path, terms, groups=("staff",))
    staff = Principal("beta", "kim", ("staff",))
    both = Principal("beta", "lee", ("staff", "hr"))
    before = big.lexical_search(staff, QUERY, 10)
    before_both = big.lexical_search(both, QUERY, 10)
    assert before == before_both
    _flood(big, "beta", 10, groups=("hr",))
    assert big.lexical_search(staff, QUERY, 10) == before
    after_both = big.lexical_search(both, QUERY, 10)
    assert after_both != before_both and len(after_both) == 10


def test_common_terms_are_pruned_by_the_principals_own_frequencies(big: SQLiteStore):
    big.COMMON_TERM_SHARE = 0.3
    _put(big, "beta", "a.txt", ["receipt"])
    _put(big, "beta", "b.txt", ["policy travel"])
    _put(big, "beta", "c.txt", ["travel"])
    _put(big, "beta", "d.txt", ["travel"])
    b = Principal("beta", "kim", ())
    # "receipt" is in 1 of beta's 4 chunks (under 30 %): searched, whatever other tenants hold.
    before = big.lexical_search(b, ["receipt", "travel"], 10)
    _flood(big, "alpha", 30)  # "receipt" is now in 30 of 34 chunks of the whole index
    assert big.lexical_search(b, ["receipt", "travel"], 10) == before
    assert [i for i, _ in before][:1] == [i for i, _ in big.lexical_search(b, ["receipt"], 10)]
    # "travel" (3 of 4) is too common for beta and dropped, so c.txt and d.txt are not hits.
    assert len(before) == 1


def test_scores_are_bm25_over_the_principals_chunks(store: SQLiteStore):
    docs = {"x.txt": ["alpha beta beta gamma", "beta delta"], "y.txt": ["gamma gamma alpha epsilon zeta eta"]}
    for path, terms in docs.items():
        _put(store, "t", path, terms)
    _put(store, "other", "z.txt", ["alpha alpha beta gamma gamma gamma"] * 5)
    texts = [t.split() for terms in docs.values() for t in terms]
    n, avgdl, k1, b = len(texts), sum(map(len, texts)) / len(texts), 1.2, 0.75

    def reference(text: list[str], query: list[str]) -> float:
        score = 0.0
        for q in query:
            df = sum(q in t for t in texts)
            idf = max(math.log((n - df + 0.5) / (df + 0.5)), 0) or 1e-6
            tf = text.count(q)
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(text) / avgdl)) if tf else 0.0
        return score

    query = ["alpha", "beta", "gamma", "delta"]
    got = dict(store.lexical_search(Principal("t", "u", ()), query, 10))
    want = {i + 1: reference(t, query) for i, t in enumerate(texts)}
    assert sorted(got) == sorted(want)
    assert np.allclose([got[i] for i in sorted(got)], [want[i] for i in sorted(want)])


def test_english_terms_match_as_the_index_stems_them(store: SQLiteStore):
    _put(store, "t", "a.txt", ["travel policies apply", "policy"])
    _put(store, "t", "b.txt", ["e-mail the manager"])
    p = Principal("t", "u", ())
    assert len(store.lexical_search(p, ["policy"], 10)) == 2  # "policies" and "policy" are one index term
    assert len(store.lexical_search(p, ["e-mail"], 10)) == 1  # a phrase of two index tokens


def test_the_embeddings_warning_counts_the_principals_chunks_only(store: SQLiteStore, settings):
    embedder = HashEmbedder()
    _put(store, "beta", "b.txt", ["vacation days"])
    embed_pending(store, embedder)
    _flood(store, "alpha", 5)  # 10 chunks without vectors, none of them beta's
    _put(store, "beta", "hr.txt", ["vacation pay"], groups=("hr",))  # pending, but not readable by kim
    kim = Principal("beta", "kim", ())
    assert store.embedding_status(embedder.name, kim) == (1, 1)
    assert store.embedding_status(embedder.name) == (12, 1)
    assert search(store, kim, "vacation", settings, mode="hybrid", embedder=embedder).warnings == []
    _put(store, "beta", "c.txt", ["vacation rules"])
    warnings = search(store, kim, "vacation", settings, mode="hybrid", embedder=embedder).warnings
    assert len(warnings) == 1 and warnings[0].startswith("embeddings unfinished: 1 of 2 chunks")


def test_embed_pending_for_a_tenant_embeds_and_counts_its_chunks_only(store: SQLiteStore):
    embedder = HashEmbedder()
    _flood(store, "alpha", 3)
    _put(store, "beta", "b.txt", ["vacation days", "vacation pay"])
    assert store.stats(embedder.name, tenant="beta")["embeddings_pending"] == 2
    assert "store_bytes" not in store.stats(tenant="beta")
    assert embed_pending(store, embedder, tenant="beta") == 2
    assert store.stats(embedder.name, tenant="beta")["embeddings_pending"] == 0
    assert store.stats(embedder.name)["embeddings_pending"] == 6


def test_a_store_from_before_the_statistics_is_upgraded_with_them(tmp_path: Path):
    path = tmp_path / "old.db"
    old = SQLiteStore(path)
    fresh = SQLiteStore(tmp_path / "fresh.db")
    for s in (old, fresh):
        for path_, terms in B_DOCS.items():
            _put(s, "beta", path_, terms)
        _flood(s, "alpha", 3)
    # Take `old` back to the schema of 002, its chunks kept: no lengths, no statistics.
    old.conn.execute("DELETE FROM migrations WHERE name = '003_acl_stats.sql'")
    old.conn.execute("DROP INDEX chunks_acl")
    for trigger in ("chunks_stats_ai", "chunks_stats_ad", "chunks_stats_au"):
        old.conn.execute(f"DROP TRIGGER {trigger}")
    old.conn.execute("DROP TABLE acl_stats")
    old.conn.execute("ALTER TABLE chunks DROP COLUMN length")
    old.close()
    upgraded = SQLiteStore(path)
    b = Principal("beta", "kim", ())
    assert upgraded.lexical_search(b, QUERY, 10) == fresh.lexical_search(b, QUERY, 10)
    assert upgraded.check() == [] and upgraded.embedding_status("m", b) == (6, 0)
    upgraded.close()
    fresh.close()
