"""Models of the recommendation engine on small planted data, checked against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from inhouse.apps.recommend import data as D
from inhouse.apps.recommend.models import (
    MODELS,
    Batch,
    bm25_weight,
    cosine_neighbors,
    make_model,
    recency_matrix,
    topk_rows,
)
from inhouse.apps.recommend.tuning import train_data
from inhouse.errors import InputError


def planted(n_users: int = 80, seed: int = 0) -> D.Interactions:
    """Two taste clusters of 15 items; each user walks their cluster in order (a sequence signal)."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        c = u % 2
        start = rng.integers(0, 15)
        for step in range(6):
            users.append(f"u{u}")
            items.append(f"{'ab'[c]}{(start + step) % 15}")
    return D.from_arrays(np.array(users), np.array(items))


def batch_for(inter: D.Interactions, data, users: list[int]) -> Batch:
    ip, it = data.seq_indptr, data.seq_items
    return Batch(data.X[users], [it[ip[u] : ip[u + 1]] for u in users])


@pytest.mark.parametrize("name", ["itemknn", "ease", "ials", "seq"])
def test_models_recommend_within_the_users_cluster(name: str):
    inter = planted()
    data = train_data(inter)
    model = make_model(name, **({"factors": 8, "iterations": 8} if name == "ials" else {})).fit(data)
    users = list(range(10))
    scores = model.score(batch_for(inter, data, users))
    assert scores.shape == (10, inter.n_items) and scores.dtype == np.float32
    for r, u in enumerate(users):
        s = scores[r].copy()
        s[data.X[u].indices] = -np.inf
        top = [inter.item_ids[i] for i in np.argsort(-s, kind="stable")[:3]]
        own = inter.item_ids[data.seq_items[data.seq_indptr[u]]][0]
        assert all(t[0] == own for t in top), (name, u, top)


def test_seq_predicts_the_next_item_of_a_walk():
    inter = planted()
    data = train_data(inter)
    model = make_model("seq", window=1, backward=0.0).fit(data)
    last = inter.item_ids.index("a3")
    s = model.score(
        Batch(sp.csr_matrix(([1.0], ([0], [last])), shape=(1, inter.n_items)), [np.array([last])])
    )[0]
    assert inter.item_ids[int(np.argmax(s))] == "a4"


def test_ease_matches_the_closed_form():
    rng = np.random.default_rng(1)
    X = sp.csr_matrix((rng.random((30, 12)) < 0.3).astype(np.float32))
    data = D.Interactions(*_pairs(X), [str(u) for u in range(30)], [str(i) for i in range(12)])
    td = train_data(data)
    model = make_model("ease", l2=5.0).fit(td)
    G = X.T.toarray() @ X.toarray() + 5.0 * np.eye(12)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0)
    np.testing.assert_allclose(model.B, B, atol=1e-4)


def test_ease_large_catalog_path_regresses_on_the_popular_head_only():
    inter = planted()
    data = train_data(inter)
    model = make_model("ease", max_items=10).fit(data)
    assert model.B.shape == (10, 10)
    s = model.score(batch_for(inter, data, [0]))
    assert s.shape == (1, inter.n_items) and (s[0, 10:] < s[0, :10].min()).all()


def _pairs(X: sp.csr_matrix):
    c = X.tocoo()
    order = np.lexsort((c.col, c.row))
    return (
        c.row[order].astype(np.int32),
        c.col[order].astype(np.int32),
        np.arange(len(order), dtype=np.float64),
        c.data[order],
    )


def test_ials_cg_and_exact_user_solves_agree():
    inter = planted()
    data = train_data(inter)
    model = make_model("ials", factors=8, iterations=6).fit(data)
    X = data.X[:70]
    small = model.score(Batch(X[:5], [np.zeros(0)] * 5))  # exact solves
    big = model.score(Batch(X, [np.zeros(0)] * 70))[:5]  # batched CG
    np.testing.assert_allclose(small, big, atol=2e-3 * np.abs(small).max())


def test_topk_rows_and_cosine_neighbours_match_dense_computation():
    rng = np.random.default_rng(2)
    dense = rng.random((20, 30)).astype(np.float32) * (rng.random((20, 30)) < 0.5)
    pruned = topk_rows(sp.csr_matrix(dense), 4).toarray()
    for r in range(20):
        expected = np.sort(dense[r][dense[r] > 0])[::-1][:4]
        np.testing.assert_allclose(np.sort(pruned[r][pruned[r] > 0])[::-1], expected)
    X = sp.csr_matrix((rng.random((40, 15)) < 0.3).astype(np.float32))
    S = cosine_neighbors(X, k=15, shrink=0.0, block=4).toarray()
    D_ = X.T.toarray() @ X.toarray()
    n = np.sqrt(np.diag(D_))
    cos = D_ / (np.outer(n, n) + 1e-9)
    np.fill_diagonal(cos, 0)
    np.testing.assert_allclose(S, cos, atol=1e-5)


def test_bm25_weights_downweight_heavy_users():
    X = sp.csr_matrix(np.array([[1, 1, 1, 1], [1, 0, 0, 0]], np.float32))
    W = bm25_weight(X).toarray()
    assert W[1, 0] > W[0, 0] > 0


def test_recency_matrix_weights_latest_items_highest():
    H = recency_matrix([np.array([3, 1, 2]), np.array([], dtype=np.int64)], 5, decay=0.5, last=2).toarray()
    assert H[0].tolist() == [0, 0.5, 1.0, 0, 0] and H[1].sum() == 0


@pytest.mark.parametrize("name", list(MODELS))
def test_array_round_trip_gives_identical_scores(name: str):
    inter = planted()
    data = train_data(inter)
    model = make_model(name, **({"factors": 8, "iterations": 3} if name == "ials" else {})).fit(data)
    clone = make_model(name, **model.params)
    clone.load_arrays({k: np.array(v) for k, v in model.arrays().items()}, inter.n_items)
    b = batch_for(inter, data, [0, 1, 2])
    np.testing.assert_array_equal(model.score(b), clone.score(b))
    clone.extend_items(inter.n_items + 2)
    wider = b.X.copy()
    wider.resize((3, inter.n_items + 2))
    grown = clone.score(Batch(wider, b.seqs))
    assert grown.shape == (3, inter.n_items + 2)
    np.testing.assert_allclose(grown[:, : inter.n_items], model.score(b), rtol=1e-5, atol=1e-6)


def test_bad_model_names_and_params():
    with pytest.raises(InputError, match="unknown model"):
        make_model("svd")
    with pytest.raises(InputError, match="no parameter"):
        make_model("ease", lambda_=3)
    with pytest.raises(InputError, match="weighting"):
        make_model("itemknn", weighting="tfidf").fit(train_data(planted(4)))
