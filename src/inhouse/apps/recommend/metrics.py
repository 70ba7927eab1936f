"""Full-ranking evaluation: every item a user has not interacted with in training is ranked.

No sampled negatives. Per user: Recall@K (hits / min(targets, K)), NDCG@K, MRR (first hit); over the
run: catalog coverage of the top-10 lists, popularity bias (mean training popularity of recommended
items relative to the mean item), and bootstrap 95% confidence intervals of every mean (fixed seed).
Ties are broken by item index (= popularity order), exactly as serving does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ScoreFn = Callable[[np.ndarray], np.ndarray]  # user indices -> (len, n_items) scores
RANK_KS = (10, 20)


@dataclass
class EvalResult:
    users: int
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]
    per_user: dict[str, np.ndarray]
    seconds: float = 0.0

    def to_json(self, digits: int = 5) -> dict:
        return {
            "users": self.users,
            **{k: round(v, digits) for k, v in self.metrics.items()},
            "ci95": {k: [round(a, digits), round(b, digits)] for k, (a, b) in self.ci.items()},
        }


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, chunk: int = 100
) -> tuple[float, float]:
    """Percentile 95% interval of the mean under resampling users with replacement."""
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, len(values), size=(min(chunk, n_boot - start), len(values)))
        means.append(values[idx].mean(axis=1))
    m = np.concatenate(means)
    return float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))


def evaluate(
    score_fn: ScoreFn,
    train: sp.csr_matrix,
    test_users: np.ndarray,
    test_items: np.ndarray,
    batch: int = 1024,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalResult:
    """Rank all non-training items for each test user and score the held-out targets."""
    import time

    t0 = time.perf_counter()
    train = train.tocsr()
    n_items = train.shape[1]
    order = np.argsort(test_users, kind="stable")
    tu, ti = test_users[order], test_items[order]
    users, starts = np.unique(tu, return_index=True)
    bounds = np.append(starts, len(tu))
    pop = np.bincount(train.indices, minlength=n_items).astype(np.float64)
    mean_pop = pop.mean() if n_items else 1.0
    ndcg = np.zeros(len(users))
    recall = np.zeros(len(users))
    mrr = np.zeros(len(users))
    hit10 = np.zeros(len(users))
    arp = np.zeros(len(users))
    shown = np.zeros(n_items, bool)
    item_idx = np.arange(n_items)
    discounts = 1.0 / np.log2(np.arange(2, 2 + max(RANK_KS) + 1))
    ideal = np.concatenate([[1.0], np.cumsum(discounts)])  # ideal DCG for n targets (index n; 0 unused)
    for b0 in range(0, len(users), batch):
        bu = users[b0 : b0 + batch]
        S = np.asarray(score_fn(bu), dtype=np.float32).copy()
        seen = train[bu]
        S[np.repeat(np.arange(len(bu)), np.diff(seen.indptr)), seen.indices] = -np.inf
        # Top-10 for coverage and popularity bias (stable: ties go to the lower index).
        part = np.argpartition(-S, 10, axis=1)[:, :10] if n_items > 10 else np.tile(item_idx, (len(bu), 1))
        shown[part.ravel()] = True
        arp[b0 : b0 + len(bu)] = pop[part].mean(axis=1) / max(mean_pop, 1e-9)
        lo, hi = bounds[b0], bounds[b0 + len(bu)]
        pt = ti[lo:hi]
        pr = np.repeat(np.arange(len(bu)), np.diff(bounds[b0 : b0 + len(bu) + 1]))
        ranks = np.empty(len(pt), np.int64)
        for c0 in range(0, len(pt), 1024):
            rows, tg = pr[c0 : c0 + 1024], pt[c0 : c0 + 1024]
            block = S[rows]
            st = block[np.arange(len(rows)), tg]
            rk = (block > st[:, None]).sum(axis=1) + (
                (block == st[:, None]) & (item_idx[None, :] < tg[:, None])
            ).sum(axis=1)
            ranks[c0 : c0 + 1024] = np.where(
                np.isfinite(st), rk, n_items
            )  # a target seen in training cannot be hit
        nt = np.diff(bounds[b0 : b0 + len(bu) + 1])
        seg = bounds[b0 : b0 + len(bu)] - lo
        sl = slice(b0, b0 + len(bu))
        gains = np.where(ranks < 10, discounts[np.minimum(ranks, 10)], 0.0)
        ndcg[sl] = np.add.reduceat(gains, seg) / ideal[np.minimum(nt, 10)]
        recall[sl] = np.add.reduceat((ranks < 20).astype(np.float64), seg) / np.minimum(nt, 20)
        first = np.minimum.reduceat(ranks, seg)
        mrr[sl] = np.where(first < n_items, 1.0 / (first + 1), 0.0)
        hit10[sl] = first < 10
        if progress:
            progress("evaluate", min(b0 + batch, len(users)), len(users))
    per_user = {"ndcg@10": ndcg, "recall@20": recall, "mrr": mrr, "hit@10": hit10}
    metrics = {k: float(v.mean()) if len(v) else 0.0 for k, v in per_user.items()}
    metrics["coverage"] = float(shown.mean()) if n_items else 0.0
    metrics["pop_bias"] = float(arp.mean()) if len(arp) else 0.0
    ci = {k: bootstrap_ci(v, n_boot, seed) for k, v in per_user.items()} if n_boot else {}
    return EvalResult(len(users), metrics, ci, per_user, time.perf_counter() - t0)
