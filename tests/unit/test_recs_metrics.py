"""Full-ranking metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from inhouse.apps.recommend.metrics import bootstrap_ci, evaluate


def fixed_scores(table: np.ndarray):
    return lambda users: table[users]


def test_ranks_exclude_training_items_and_break_ties_by_index():
    # 2 users, 5 items. User 0 trained on item 0; target item 3. User 1 trained on nothing; target item 4.
    train = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, 5))
    scores = np.array([[9, 5, 5, 5, 1], [1, 1, 1, 1, 1]], np.float32)
    res = evaluate(fixed_scores(scores), train, np.array([0, 1]), np.array([3, 4]), n_boot=0)
    # user 0: item 0 excluded; ranking 1,2 (tie, lower index first), 3, 4 -> target rank 2 (0-based)
    # user 1: all tied -> index order -> target rank 4
    assert math.isclose(res.per_user["mrr"][0], 1 / 3)
    assert math.isclose(res.per_user["ndcg@10"][0], 1 / math.log2(4))
    assert math.isclose(res.per_user["mrr"][1], 1 / 5)
    assert res.metrics["recall@20"] == 1.0
    assert res.metrics["coverage"] == 1.0  # top-10 of 5 items covers everything


def test_multiple_targets_and_unreachable_targets():
    train = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 30))
    scores = np.arange(30, 0, -1, dtype=np.float32)[None, :]  # item 0 best
    # Targets: item 0 (rank 0), item 25 (rank 24 after excluding item 1), item 1 (seen in training: never hit).
    res = evaluate(fixed_scores(scores), train, np.array([0, 0, 0]), np.array([0, 25, 1]), n_boot=0)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert math.isclose(res.per_user["ndcg@10"][0], 1 / ideal)
    assert math.isclose(res.per_user["recall@20"][0], 1 / 3)
    assert res.per_user["mrr"][0] == 1.0 and res.users == 1


def test_popularity_bias_and_bootstrap():
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1]], np.float32))
    scores = np.array([[3, 2, 1]] * 3, np.float32)
    res = evaluate(fixed_scores(scores), train, np.array([0, 1, 2]), np.array([2, 1, 1]), n_boot=200)
    lo, hi = res.ci["ndcg@10"]
    assert lo <= res.metrics["ndcg@10"] <= hi
    assert res.metrics["pop_bias"] > 0
    v = np.random.default_rng(0).random(500)
    a, b = bootstrap_ci(v, 300, seed=1)
    assert (a, b) == bootstrap_ci(v, 300, seed=1) and a < v.mean() < b
    assert bootstrap_ci(np.array([])) == (0.0, 0.0)
