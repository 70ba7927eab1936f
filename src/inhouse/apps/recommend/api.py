"""Public API of the recommendation engine: train, evaluate, recommend, similar, fold in, versions.

Every function takes a tenant and works only on that tenant's data under `home()/recs/<tenant>/`.
Results are plain JSON-able dicts (the CLI prints them; a server can return them as they are).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from inhouse.apps.recommend import data as D
from inhouse.apps.recommend import storage
from inhouse.apps.recommend.content import embed_catalog, nearest, pick_embedder
from inhouse.apps.recommend.metrics import evaluate as full_rank_eval
from inhouse.apps.recommend.models import (
    MODELS,
    Batch,
    ItemKNN,
    Model,
    Progress,
    cosine_neighbors,
    make_model,
    pad_sparse,
)
from inhouse.apps.recommend.tuning import AUTO_CANDIDATES, score_fn, select, train_data, tune
from inhouse.errors import InputError, NotFoundError

log = logging.getLogger(__name__)

NEIGHBOURS = 50  # item neighbours kept for explanations and `similar`
COLD_SHARE = 0.2  # at most this share of a user's list goes to catalog items without interactions
COLD_MIN_SIM = 0.3
EXPLAIN_HISTORY = 50  # most recent history items considered for "because"


def _model_arrays(model: Model) -> dict[str, np.ndarray]:
    return {f"m_{k}": v for k, v in model.arrays().items()}


def _save(
    tenant: str,
    inter: D.Interactions,
    model: Model,
    manifest: dict[str, Any],
    content_ids: list[str],
    content: np.ndarray,
    neighbours: sp.csr_matrix | None = None,
) -> int:
    data = train_data(inter)
    if neighbours is None:
        if isinstance(model, ItemKNN) and model.params["weighting"] == "cosine":
            neighbours = model.sim
        else:
            neighbours = cosine_neighbors(data.X, NEIGHBOURS, shrink=10.0)
    arrays = {
        **_model_arrays(model),
        "pairs_users": inter.users,
        "pairs_items": inter.items,
        "pairs_ts": inter.ts,
        "pairs_weights": inter.weights,
        "pop": np.bincount(inter.items, minlength=inter.n_items).astype(np.float32),
        "nb_data": neighbours.data.astype(np.float32),
        "nb_indices": neighbours.indices.astype(np.int32),
        "nb_indptr": neighbours.indptr.astype(np.int64),
        "content": content.astype(np.float32),
    }
    manifest = {
        **manifest,
        "model": model.name,
        "params": model.params,
        "users": inter.n_users,
        "items": inter.n_items,
        "pairs": len(inter),
    }
    jsons = {"users": inter.user_ids, "items": inter.item_ids, "content_ids": content_ids}
    number = storage.save_version(tenant, manifest, arrays, jsons)
    with _CACHE_LOCK:
        _CACHE.clear()
    return number


def train(
    tenant: str,
    interactions: str | Path,
    items: str | Path | None = None,
    model: str = "auto",
    params: dict[str, Any] | None = None,
    embedder: str = "auto",
    progress: Progress = None,
) -> dict[str, Any]:
    """Train a model on a tenant's interaction file (and optional catalog) and make it the current version.

    `model="auto"` tunes every model on a validation split (each user's second-to-last item, so the last
    item stays unseen for `evaluate`) and keeps the best by NDCG@10; a named model is tuned the same way
    unless `params` are given. The final model is fitted on all interactions.
    """
    storage.tenant_dir(tenant)  # validates the name before any work
    if model != "auto" and model not in MODELS:
        raise InputError(f"unknown model '{model}'; choose one of: auto, {', '.join(MODELS)}.")
    t0 = time.perf_counter()
    inter, report = D.load_interactions(interactions)
    catalog = D.load_catalog(items) if items else None
    log.info("training recommender for tenant %s: %d users, %d items, %d pairs (model %s)", tenant, inter.n_users,
             inter.n_items, len(inter), model)
    test_split = D.leave_last_out(inter)
    val_split = D.leave_last_out(test_split.train)
    tuning: list[dict[str, Any]] = []
    if params is not None:
        if model == "auto":
            raise InputError("fixed params need a named model (--model itemknn|ease|ials|seq|pop), not auto.")
        name, chosen = model, dict(params)
    elif len(val_split.test_users) < 10:
        # Too little data to validate: item-kNN with defaults is a safe, non-trivial choice.
        name, chosen = ("itemknn" if model == "auto" else model), {}
    elif model == "auto":
        best, results = select(val_split, AUTO_CANDIDATES, progress=progress)
        name, chosen = best.name, best.params
        tuning = [
            {
                "model": r.name,
                "params": r.params,
                "val_ndcg@10": round(r.val_ndcg, 5),
                "seconds": round(r.seconds, 1),
            }
            for r in results
        ]
    else:
        best = tune(model, val_split, progress=progress)
        name, chosen = model, best.params
        tuning = [
            {
                "model": best.name,
                "params": best.params,
                "val_ndcg@10": round(best.val_ndcg, 5),
                "seconds": round(best.seconds, 1),
            }
        ]
    t_fit = time.perf_counter()
    fitted = make_model(name, **chosen).fit(train_data(inter), progress=progress)
    fit_s = time.perf_counter() - t_fit
    content_ids: list[str] = []
    content = np.zeros((0, 1), np.float32)
    used_embedder = None
    if catalog is not None:
        used_embedder = pick_embedder(embedder, len(catalog.texts))
        content_ids, content = embed_catalog(catalog, used_embedder, progress=progress)
    known = set(inter.item_ids)
    manifest = {
        "trained_from": str(interactions),
        "catalog": str(items) if items else None,
        "embedder": used_embedder,
        "cold_items": sum(1 for i in content_ids if i not in known),
        "tuning": tuning,
        "load_report": report.to_json(),
        "catalog_report": catalog.report.to_json() if catalog else None,
        "fit_seconds": round(fit_s, 2),
        "train_seconds": round(time.perf_counter() - t0, 2),
    }
    version = _save(tenant, inter, fitted, manifest, content_ids, content)
    log.info("recommender version %d of tenant %s: %s %s, fitted in %.1f s, trained in %.1f s", version, tenant, name,
             fitted.params, fit_s, manifest["train_seconds"])
    return {
        "tenant": tenant,
        "version": version,
        **manifest,
        "model": name,
        "params": fitted.params,
        "users": inter.n_users,
        "items": inter.n_items,
        "pairs": len(inter),
    }


class Recommender:
    """A loaded model version: scoring, explanations, cold start. Read-only; safe to share."""

    def __init__(self, tenant: str, version: int | None = None) -> None:
        path = storage.version_path(tenant, version)
        self.tenant, self.path = tenant, path
        self.manifest = storage.read_manifest(path)
        self.version = int(self.manifest["version"])
        arrays = storage.read_arrays(path)
        self.user_ids: list[str] = storage.read_json(path, "users")
        self.item_ids: list[str] = storage.read_json(path, "items")
        self.user_index = {u: k for k, u in enumerate(self.user_ids)}
        self.item_index = {i: k for k, i in enumerate(self.item_ids)}
        n = self.n_items = len(self.item_ids)
        self.model = make_model(self.manifest["model"], **self.manifest["params"])
        self.model.load_arrays({k[2:]: v for k, v in arrays.items() if k.startswith("m_")}, n)
        users, items = arrays["pairs_users"], arrays["pairs_items"]
        self.hist_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(users, minlength=len(self.user_ids)))]
        ).astype(np.int64)
        self.hist_items = np.asarray(items)
        self.hist_weights = np.asarray(arrays["pairs_weights"])
        self.pop = np.asarray(arrays["pop"])
        self.neighbours = sp.csr_matrix(
            (arrays["nb_data"], arrays["nb_indices"], arrays["nb_indptr"]), shape=(n, n)
        )
        self.content_ids: list[str] = storage.read_json(path, "content_ids")
        self.content = np.asarray(arrays["content"])
        self.content_index = {i: k for k, i in enumerate(self.content_ids)}
        self.cold_rows = np.array(
            [k for k, i in enumerate(self.content_ids) if i not in self.item_index], np.int64
        )
        # Content row of each model item (-1: not in the catalog).
        self.item_content = np.array([self.content_index.get(i, -1) for i in self.item_ids], np.int64)

    # -- histories ------------------------------------------------------------------------------------
    def history(self, user: str) -> tuple[np.ndarray, np.ndarray]:
        """(items in time order, weights) of a known user; empty for unknown users."""
        u = self.user_index.get(user)
        if u is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        s, e = self.hist_indptr[u], self.hist_indptr[u + 1]
        return self.hist_items[s:e].astype(np.int64), self.hist_weights[s:e]

    def _scores(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        X = sp.csr_matrix(
            (weights.astype(np.float32), (np.zeros(len(items), np.int64), items)), shape=(1, self.n_items)
        )
        X.sum_duplicates()
        return self.model.score(Batch(X, [items]))[0]

    def _explain(self, hist: np.ndarray, recs: np.ndarray, n: int = 3) -> list[list[str]]:
        if len(hist) == 0 or len(recs) == 0:
            return [[] for _ in recs]
        recent = hist[-EXPLAIN_HISTORY:][::-1]
        sims = self.neighbours[recent][:, recs].toarray()  # history × recs
        out = []
        for c in range(len(recs)):
            col = sims[:, c]
            top = np.argsort(-col, kind="stable")[:n]
            out.append([self.item_ids[recent[t]] for t in top if col[t] > 0])
        return out

    @staticmethod
    def _top(scores: np.ndarray, k: int) -> np.ndarray:
        """Top-k indices by score, ties to the lower index (= the more popular item)."""
        finite = np.isfinite(scores)
        k = min(k, int(finite.sum()))
        if k <= 0:
            return np.zeros(0, np.int64)
        part = np.argpartition(-scores, k - 1)[:k]
        kth = scores[part].min()
        greater = np.flatnonzero(scores > kth)
        equal = np.flatnonzero(scores == kth)[: k - len(greater)]
        cand = np.concatenate([greater, equal])
        return cand[np.lexsort((cand, -scores[cand]))]

    # -- public ---------------------------------------------------------------------------------------
    def recommend(
        self, user: str, k: int = 10, history: list[str] | None = None, exclude_seen: bool = True
    ) -> dict[str, Any]:
        if k < 1:
            raise InputError("k must be at least 1.")
        items, weights = self.history(user)
        if history:
            extra = [self.item_index[i] for i in history if i in self.item_index]
            items = np.concatenate([items, np.asarray(extra, np.int64)])
            weights = np.concatenate([weights, np.ones(len(extra), np.float32)])
        cold = len(items) == 0
        if cold:
            scores = np.log1p(self.pop).astype(np.float32)
        else:
            scores = self._scores(items, weights)
            if exclude_seen:
                scores[items] = -np.inf
        n_cold = int(round(k * COLD_SHARE)) if len(self.cold_rows) and not cold else 0
        cold_recs = self._cold_for(items, n_cold) if n_cold else []
        top = self._top(scores, k - len(cold_recs))
        because = self._explain(items, top)
        out = [
            {"item": self.item_ids[j], "score": round(float(scores[j]), 6), "because": b}
            for j, b in zip(top, because, strict=True)
        ]
        out += cold_recs
        return {
            "user": user,
            "items": out,
            "cold_start": cold,
            "model": self.model.name,
            "version": self.version,
        }

    def _cold_for(self, items: np.ndarray, n: int) -> list[dict[str, Any]]:
        rows = self.item_content[items[-5:]]
        rows = rows[rows >= 0]
        if len(rows) == 0:
            return []
        profile = self.content[rows].mean(axis=0)
        cand, sims = nearest(self.content[self.cold_rows], profile, n)
        out = []
        for c, s in zip(cand, sims, strict=True):
            if s < COLD_MIN_SIM:
                break
            row = self.cold_rows[c]
            anchor = rows[int(np.argmax(self.content[rows] @ self.content[row]))]
            out.append(
                {
                    "item": self.content_ids[row],
                    "score": round(float(s), 6),
                    "because": [self.content_ids[anchor]],
                    "source": "content",
                }
            )
        return out

    def similar(self, item: str, k: int = 10) -> dict[str, Any]:
        if k < 1:
            raise InputError("k must be at least 1.")
        j = self.item_index.get(item)
        out: list[dict[str, Any]] = []
        source = "interactions"
        if j is not None:
            s, e = self.neighbours.indptr[j], self.neighbours.indptr[j + 1]
            nb, sims = self.neighbours.indices[s:e], self.neighbours.data[s:e]
            order = np.lexsort((nb, -sims))[:k]
            out = [
                {"item": self.item_ids[nb[o]], "score": round(float(sims[o]), 6), "source": "interactions"}
                for o in order
            ]
        row = self.content_index.get(item)
        if len(out) < k and row is not None:
            taken = {o["item"] for o in out} | {item}
            exclude = np.array([self.content_index[t] for t in taken if t in self.content_index], np.int64)
            cand, sims = nearest(self.content, self.content[row], k - len(out), exclude=exclude)
            out += [
                {"item": self.content_ids[c], "score": round(float(s), 6), "source": "content"}
                for c, s in zip(cand, sims, strict=True)
            ]
            if j is None:
                source = "content"
        if j is None and row is None:
            raise NotFoundError(
                f"item '{item}' is neither in tenant '{self.tenant}' interactions nor in its catalog."
            )
        return {
            "item": item,
            "items": out,
            "source": source,
            "model": self.model.name,
            "version": self.version,
        }


_CACHE: OrderedDict[tuple[str, int], Recommender] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def load(tenant: str, version: int | None = None) -> Recommender:
    """The tenant's current (or given) version, cached per process."""
    number = storage.current_version(tenant) if version is None else version
    key = (tenant, number)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    t0 = time.perf_counter()
    rec = Recommender(tenant, number)
    log.debug("loaded recommender version %d of tenant %s (%s, %d items) in %.2f s", rec.version, tenant,
              rec.model.name, rec.n_items, time.perf_counter() - t0)
    with _CACHE_LOCK:
        _CACHE[key] = rec
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return rec


def recommend_user(tenant: str, user: str, k: int = 10, history: list[str] | None = None) -> dict[str, Any]:
    """Top-k items for a user with "because" explanations; unknown users get the cold-start answer."""
    return load(tenant).recommend(user, k, history=history)


def similar_items(tenant: str, item: str, k: int = 10) -> dict[str, Any]:
    """Items most similar to `item` (co-interaction neighbours, or catalog text for cold items)."""
    return load(tenant).similar(item, k)


def _stored_interactions(rec: Recommender) -> D.Interactions:
    a = storage.read_arrays(rec.path, mmap=False)
    return D.Interactions(
        a["pairs_users"], a["pairs_items"], a["pairs_ts"], a["pairs_weights"], rec.user_ids, rec.item_ids
    )


def evaluate(
    tenant: str,
    split: str = "leave-last-out",
    test_fraction: float = 0.1,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Progress = None,
) -> dict[str, Any]:
    """Refit the current model's configuration on a training split and rank all items for held-out ones.

    Compared with popularity on the same split. `split` is "leave-last-out" (each user's last item) or
    "temporal" (a global time cut at the 1 - test_fraction quantile).
    """
    rec = load(tenant)
    inter = _stored_interactions(rec)
    if split == "leave-last-out":
        sp_ = D.leave_last_out(inter)
    elif split == "temporal":
        sp_ = D.temporal_split(inter, test_fraction)
    else:
        raise InputError(f"unknown split '{split}'; choose leave-last-out or temporal.")
    if len(sp_.test_users) == 0:
        raise InputError(f"tenant '{tenant}': no user has a held-out interaction under the {split} split.")
    data = train_data(sp_.train)
    out: dict[str, Any] = {
        "split": sp_.name,
        "model": rec.model.name,
        "params": rec.model.params,
        "version": rec.version,
    }
    for label, name, params in (("metrics", rec.model.name, rec.model.params), ("baseline_pop", "pop", {})):
        t0 = time.perf_counter()
        model = make_model(name, **params).fit(data)
        fit_s = time.perf_counter() - t0
        res = full_rank_eval(
            score_fn(model, data),
            data.X,
            sp_.test_users,
            sp_.test_items,
            n_boot=n_boot,
            seed=seed,
            progress=progress,
        )
        out["users"] = res.users
        out[label] = {k: round(v, 5) for k, v in res.metrics.items()}
        out[label + "_ci95"] = {k: [round(a, 5), round(b, 5)] for k, (a, b) in res.ci.items()}
        out[label + "_fit_seconds"] = round(fit_s, 2)
    base = out["baseline_pop"]["ndcg@10"]
    out["lift_ndcg@10"] = round(out["metrics"]["ndcg@10"] / base - 1, 4) if base > 0 else None
    return out


def fold_in(tenant: str, interactions: str | Path, progress: Progress = None) -> dict[str, Any]:
    """Add new interactions without retraining: histories, popularity and neighbours are updated; model
    parameters are kept (all models score from histories, so new users and new events count at once).
    Items never seen before are appended and served by popularity/content until the next `train`."""
    rec = load(tenant)
    old = _stored_interactions(rec)
    events, report = D.read_events(interactions)
    n_old = len(old)
    merged = D.Events(
        [rec.user_ids[u] for u in old.users] + events.users,
        [rec.item_ids[i] for i in old.items] + events.items,
        np.concatenate([old.ts, events.ts]),
        np.concatenate([old.weights, events.weights]),
        np.concatenate([np.arange(n_old), n_old + events.lines]),
    )
    inter = D.build_interactions(merged, None, user_ids=list(rec.user_ids), item_ids=list(rec.item_ids))
    model = make_model(rec.model.name, **rec.model.params)
    model.load_arrays(
        {k[2:]: np.asarray(v) for k, v in storage.read_arrays(rec.path).items() if k.startswith("m_")},
        rec.n_items,
    )
    if inter.n_items > rec.n_items:
        model.extend_items(inter.n_items)
    if model.name == "pop":
        model.fit(train_data(inter))
    manifest = {
        k: v
        for k, v in rec.manifest.items()
        if k not in ("version", "created", "model", "params", "users", "items", "pairs")
    }
    manifest.update(
        {
            "folded_in_from": str(interactions),
            "base_version": rec.version,
            "fold_in_report": report.to_json(),
            "new_users": inter.n_users - len(rec.user_ids),
            "new_items": inter.n_items - rec.n_items,
            "new_pairs": len(inter) - n_old,
        }
    )
    nb = pad_sparse(rec.neighbours, inter.n_items) if inter.n_items > rec.n_items else rec.neighbours
    version = _save(tenant, inter, model, manifest, rec.content_ids, np.asarray(rec.content), neighbours=nb)
    log.info("folded %d new pairs (%d new users, %d new items) into tenant %s's recommender: version %d",
             manifest["new_pairs"], manifest["new_users"], manifest["new_items"], tenant, version)
    return {
        "tenant": tenant,
        "version": version,
        "model": model.name,
        "new_users": manifest["new_users"],
        "new_items": manifest["new_items"],
        "new_pairs": manifest["new_pairs"],
        "load_report": report.to_json(),
    }


def versions(tenant: str) -> dict[str, Any]:
    """Stored versions of a tenant's model with their model name and size; which one is current."""
    nums = storage.list_versions(tenant)
    if not nums:
        raise NotFoundError(f"no recommendation model for tenant '{tenant}'.")
    cur = storage.current_version(tenant)
    rows = []
    for v in nums:
        m = storage.version_manifest(tenant, v)
        rows.append(
            {
                "version": v,
                "current": v == cur,
                "model": m["model"],
                "created": m["created"],
                "users": m["users"],
                "items": m["items"],
                "pairs": m["pairs"],
                "base_version": m.get("base_version"),
            }
        )
    return {"tenant": tenant, "current": cur, "versions": rows}


def rollback(tenant: str, to: int | None = None) -> dict[str, Any]:
    """Make an earlier version current (default: the one before the current)."""
    before = storage.current_version(tenant)
    after = storage.rollback(tenant, to)
    with _CACHE_LOCK:
        _CACHE.clear()
    log.info("tenant %s's recommender rolled back from version %s to %s", tenant, before, after)
    return {"tenant": tenant, "from": before, "current": after}
