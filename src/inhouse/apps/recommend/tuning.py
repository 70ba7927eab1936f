"""Fitting and scoring helpers, per-model hyper-parameter search and `auto` model selection.

Search is one pass of coordinate ascent over small per-model grids, scored by NDCG@10 on a validation
split that never contains the evaluation targets: the caller holds out each user's last item for
testing, and tuning holds out each user's second-to-last item from what remains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inhouse.apps.recommend import data as D
from inhouse.apps.recommend.metrics import EvalResult, evaluate
from inhouse.apps.recommend.models import Batch, Model, Progress, TrainData, make_model

log = logging.getLogger(__name__)

# Values tried per parameter (the first pass starts from each model's defaults).
GRIDS: dict[str, dict[str, list[Any]]] = {
    "pop": {},
    "itemknn": {"weighting": ["cosine", "bm25"], "k": [25, 100, 400], "shrink": [0.0, 10.0, 100.0]},
    "ease": {"l2": [10.0, 25.0, 50.0, 200.0, 800.0, 3200.0]},
    "ials": {
        "alpha": [2.0, 10.0, 40.0, 100.0],
        "l2": [0.001, 0.01, 0.1, 1.0, 10.0, 50.0],
        "factors": [64, 128, 256],
    },
    "seq": {
        "window": [1, 2, 3, 5, 8],
        "backward": [0.0, 0.25, 0.5, 1.0, 2.0],
        "norm": [0.25, 0.5, 1.0, 1.5],
        "decay": [0.3, 0.6, 0.85, 0.95],
        "last": [5, 10, 20, 50],
        "knn_mix": [0.0, 0.05, 0.2, 0.5, 1.0],
        "k": [50, 100, 200, 400],
    },
}
AUTO_CANDIDATES = ("pop", "itemknn", "ease", "ials", "seq")
EASE_AUTO_MAX_ITEMS = 20000  # auto skips EASE above this (dense items² inverse); --model ease still works
EASE_SMALL_GRID_ITEMS = 5000  # above this EASE is tuned on a 4-point l2 grid


def train_data(inter: D.Interactions) -> TrainData:
    indptr, items = D.sequences(inter)
    return TrainData(D.user_item_matrix(inter), indptr, items)


def score_fn(model: Model, data: TrainData):
    """user indices -> dense scores, from the users' training histories."""

    def fn(users: np.ndarray) -> np.ndarray:
        ip, it = data.seq_indptr, data.seq_items
        return model.score(Batch(data.X[users], [it[ip[u] : ip[u + 1]] for u in users]))

    return fn


def fit_eval(
    name: str,
    params: dict[str, Any],
    split: D.Split,
    max_users: int | None = None,
    seed: int = 0,
    n_boot: int = 0,
) -> tuple[Model, EvalResult, float]:
    """Fit on split.train, evaluate on its targets; returns (model, result, fit seconds)."""
    data = train_data(split.train)
    t0 = time.perf_counter()
    model = make_model(name, **params).fit(data)
    fit_s = time.perf_counter() - t0
    users, items = split.test_users, split.test_items
    if max_users and len(np.unique(users)) > max_users:
        keep = np.random.default_rng(seed).choice(np.unique(users), max_users, replace=False)
        mask = np.isin(users, keep)
        users, items = users[mask], items[mask]
    res = evaluate(score_fn(model, data), data.X, users, items, n_boot=n_boot, seed=seed)
    return model, res, fit_s


@dataclass
class Tuned:
    name: str
    params: dict[str, Any]
    val_ndcg: float
    tried: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def coordinate_ascent(score: Callable[[dict[str, Any]], float], start: dict[str, Any],
                      grid: dict[str, list[Any]]) -> tuple[dict[str, Any], float]:
    """Try each parameter's values in grid order, keeping the best setting found so far."""
    best, best_score = dict(start), score(start)
    for param, values in grid.items():
        for v in values:
            cand = {**best, param: v}
            s = score(cand)
            if s > best_score:
                best, best_score = cand, s
    return best, best_score


def tune(
    name: str,
    val_split: D.Split,
    grid: dict[str, list[Any]] | None = None,
    max_users: int = 5000,
    progress: Progress = None,
) -> Tuned:
    """Coordinate ascent on validation NDCG@10 (each parameter once, in grid order)."""
    t0 = time.perf_counter()
    if grid is None:
        grid = GRIDS.get(name, {})
        if name == "ease" and val_split.train.n_items > EASE_SMALL_GRID_ITEMS:
            grid = {"l2": [15.0, 50.0, 800.0]}  # each fit is a dense items² inverse: fewer, wider steps
    best = dict(make_model(name).params)
    cache: dict[str, float] = {}
    tried: list[dict[str, Any]] = []

    def run(params: dict[str, Any]) -> float:
        key = repr(sorted(params.items()))
        if key not in cache:
            _, res, fit_s = fit_eval(name, params, val_split, max_users=max_users)
            cache[key] = res.metrics["ndcg@10"]
            tried.append({"params": dict(params), "ndcg@10": round(cache[key], 5), "fit_s": round(fit_s, 2)})
            if progress:
                progress(f"tune {name}", len(tried), total)
        return cache[key]

    total = 1 + sum(len(v) - 1 for v in grid.values())
    best, best_score = coordinate_ascent(run, best, grid)
    log.info("tuned %s: validation NDCG@10 %.4f with %s (%d fits, %.1f s)", name, best_score, best, len(tried),
             time.perf_counter() - t0)
    return Tuned(name, best, best_score, tried, time.perf_counter() - t0)


def select(
    val_split: D.Split,
    candidates: tuple[str, ...] = AUTO_CANDIDATES,
    max_users: int = 5000,
    progress: Progress = None,
) -> tuple[Tuned, list[Tuned]]:
    """Tune every candidate and return (best by validation NDCG@10, all)."""
    n_items = val_split.train.n_items
    results = [
        tune(c, val_split, max_users=max_users, progress=progress)
        for c in candidates
        if not (c == "ease" and n_items > EASE_AUTO_MAX_ITEMS)
    ]
    return max(results, key=lambda t: t.val_ndcg), results
