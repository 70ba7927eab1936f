"""The inverted-file vector index used on large stores: permissions kept, recall close to the exact scan."""

import numpy as np
import pytest

from inhouse.store import SQLiteStore
from inhouse.store.sqlite import _VectorIndex
from inhouse.types import Chunk, Document, Principal


@pytest.fixture
def clustered(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_VectorIndex, "IVF_FROM", 500)
    rng = np.random.default_rng(0)
    centroids = rng.standard_normal((30, 32)).astype(np.float32)
    for d in range(100):
        groups = ("hr",) if d % 2 else ("staff",)
        chunks = [Chunk(text=f"doc {d} part {i}", page=None, heading_path=(), char_start=0, char_end=1, ordinal=i)
                  for i in range(10)]
        store.replace_document(Document(path=f"d{d}.txt", tenant="acme", groups=groups, sha256=str(d), kind="txt"),
                               chunks, [f"doc{d}"] * 10)
    ids = [i for (i,) in store.conn.execute("SELECT id FROM chunks ORDER BY id")]
    vecs = centroids[rng.integers(0, 30, len(ids))] + 0.4 * rng.standard_normal((len(ids), 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.put_embeddings("m", list(zip(ids, vecs, strict=True)))
    return store, vecs


def test_ivf_is_used_above_the_threshold_and_keeps_permissions(clustered):
    store, vecs = clustered
    staff = Principal("acme", "kim", ("staff",))
    hits = store.dense_search(staff, vecs[15], "m", 10)  # chunk 16 belongs to d1, an hr document
    index = store._vectors["m"]
    assert index.centroids is not None and len(hits) == 10
    readable = {cid for (cid,) in store.conn.execute(
        "SELECT c.id FROM chunks c JOIN doc_groups g ON g.doc_id = c.doc_id WHERE g.grp = 'staff'")}
    assert {cid for cid, _ in hits} <= readable
    assert store.dense_search(Principal("globex", "x", ("staff",)), vecs[0], "m", 10) == []


def test_ivf_recall_against_the_exact_scan(clustered):
    store, vecs = clustered
    p = Principal("acme", "lee", ("staff", "hr"))
    store.dense_search(p, vecs[0], "m", 10)
    index = store._vectors["m"]
    recall = []
    for q in vecs[:50]:
        approx = {i for i, _ in index.search(p, q, 10)}
        exact = {i for i, _ in index.search(p, q, 10, exact=True)}
        recall.append(len(approx & exact) / 10)
    assert np.mean(recall) >= 0.9
