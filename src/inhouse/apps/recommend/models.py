"""Implicit-feedback models: popularity, item-kNN, EASE, iALS and a sequential transition model.

Every model scores from a user's history (a CSR row of weights plus the items in time order), not from
a stored per-user state, so new interactions of known or new users fold in without retraining; only new
*items* need a retrain (until then they are served by content similarity, see content.py).

Each model is `fit` on a `TrainData`, `score`s a batch of histories into a dense (batch × items) float32
array, and round-trips through plain arrays (`arrays()` / `from_arrays`) that storage.py writes as .npy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from inhouse.errors import InputError

Progress = Any  # callable(phase: str, done: int, total: int) -> None, or None


@dataclass
class TrainData:
    X: sp.csr_matrix  # users × items, float32 pair weights
    seq_indptr: np.ndarray  # per-user slices of seq_items (time order)
    seq_items: np.ndarray

    @property
    def n_items(self) -> int:
        return self.X.shape[1]


@dataclass
class Batch:
    """Histories to score: CSR rows of weights and, per row, the items in time order."""

    X: sp.csr_matrix
    seqs: list[np.ndarray]


def recency_matrix(seqs: list[np.ndarray], n_items: int, decay: float, last: int) -> sp.csr_matrix:
    """Rows with weight decay**k on the k-th most recent item (k < last); older items weigh 0."""
    rows, cols, vals = [], [], []
    for r, s in enumerate(seqs):
        tail = s[-last:][::-1]
        rows.append(np.full(len(tail), r))
        cols.append(tail)
        vals.append(decay ** np.arange(len(tail), dtype=np.float64))
    if not rows:
        return sp.csr_matrix((0, n_items), dtype=np.float32)
    m = sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(seqs), n_items),
    )
    m.sum_duplicates()
    return m


def topk_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row of a CSR matrix (vectorised, memory ∝ nnz)."""
    m = m.tocsr()
    m.eliminate_zeros()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    keep.sort()
    out = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=np.float32)
    out.sort_indices()
    return out


def bm25_weight(X: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """BM25 weighting of a users × items matrix, items seen as documents over user 'terms'.

    Users who interact with many items carry less information (idf); items with very many users are
    length-normalised, which curbs popularity in the co-occurrence counts.
    """
    X = X.tocsr().astype(np.float32)
    n_items = X.shape[1]
    df = np.diff(X.indptr).astype(np.float64)  # items per user
    idf = np.log((n_items - df + 0.5) / (df + 0.5) + 1.0)
    item_len = np.asarray(X.sum(axis=0)).ravel()
    avg = item_len.mean() if item_len.size else 1.0
    Xc = X.tocoo()
    denom = Xc.data + k1 * (1 - b + b * item_len[Xc.col] / max(avg, 1e-9))
    data = Xc.data * (k1 + 1) / denom * idf[Xc.row]
    out = sp.csr_matrix((data.astype(np.float32), (Xc.row, Xc.col)), shape=X.shape)
    out.sort_indices()
    return out


def cosine_neighbors(
    X: sp.csr_matrix, k: int, shrink: float = 0.0, block: int = 2048, progress: Progress = None
) -> sp.csr_matrix:
    """Item × item cosine similarity of the columns of X, top-k per row, diagonal removed.

    Computed in row blocks of XᵀX so memory stays ∝ the kept neighbours, never items².
    """
    X = X.tocsr().astype(np.float32)
    n = X.shape[1]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel()).astype(np.float32)
    XT = X.T.tocsr()
    parts = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        c = (XT[start:stop] @ X).tocoo()
        keep = c.row + start != c.col
        r, col, v = c.row[keep], c.col[keep], c.data[keep]
        v = v / (norms[r + start] * norms[col] + shrink + 1e-9)
        parts.append(topk_rows(sp.csr_matrix((v, (r, col)), shape=(stop - start, n), dtype=np.float32), k))
        if progress:
            progress("neighbours", stop, n)
    out = (
        sp.vstack(parts, format="csr", dtype=np.float32) if parts else sp.csr_matrix((0, n), dtype=np.float32)
    )
    out.sort_indices()
    return out


class Model(ABC):
    """A recommender: fit on a user×item matrix, score users, persist as plain arrays."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise InputError(
                f"model '{self.name}' has no parameter(s) {sorted(unknown)}; valid: {sorted(self.defaults)}."
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.n_items = 0

    @abstractmethod
    def fit(self, data: TrainData, progress: Progress = None) -> Model:
        """See the subclasses."""

    @abstractmethod
    def score(self, batch: Batch) -> np.ndarray:
        """See the subclasses."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """See the subclasses."""

    @abstractmethod
    def load_arrays(self, arrays: dict[str, np.ndarray], n_items: int) -> None:
        """See the subclasses."""

    @abstractmethod
    def extend_items(self, n_items: int) -> None:
        """Grow the item space (new items from a fold-in score nothing until the next retrain)."""


def pad_sparse(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    m = m.tocsr()
    return sp.csr_matrix(
        (m.data, m.indices, np.concatenate([m.indptr, np.full(n - m.shape[0], m.indptr[-1])])), shape=(n, n)
    )


def _sparse_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}_data": m.data.astype(np.float32),
        f"{prefix}_indices": m.indices.astype(np.int32),
        f"{prefix}_indptr": m.indptr.astype(np.int64),
    }


def _sparse_from(prefix: str, a: dict[str, np.ndarray], n: int) -> sp.csr_matrix:
    return sp.csr_matrix((a[f"{prefix}_data"], a[f"{prefix}_indices"], a[f"{prefix}_indptr"]), shape=(n, n))


class Popularity(Model):
    """Items by number of users (pair weights ignored): the baseline every model must beat."""

    name = "pop"
    defaults: ClassVar[dict[str, Any]] = {}

    def fit(self, data: TrainData, progress: Progress = None) -> Popularity:
        self.n_items = data.n_items
        self.counts = np.bincount(data.X.indices, minlength=self.n_items).astype(np.float32)
        return self

    def score(self, batch: Batch) -> np.ndarray:
        return np.broadcast_to(np.log1p(self.counts), (batch.X.shape[0], self.n_items)).copy()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def load_arrays(self, arrays: dict[str, np.ndarray], n_items: int) -> None:
        self.n_items, self.counts = n_items, np.asarray(arrays["counts"], np.float32)

    def extend_items(self, n_items: int) -> None:
        self.counts = np.concatenate([self.counts, np.zeros(n_items - self.n_items, np.float32)])
        self.n_items = n_items


class ItemKNN(Model):
    """Item-based k-nearest neighbours: cosine similarity on raw or BM25-weighted interactions.

    score(u, j) = Σ_i x_ui · s_ij over the user's items i, with s_ij kept only for i's top-k neighbours j.
    """

    name = "itemknn"
    defaults: ClassVar[dict[str, Any]] = {"k": 100, "shrink": 10.0, "weighting": "cosine"}

    def fit(self, data: TrainData, progress: Progress = None) -> ItemKNN:
        if self.params["weighting"] not in ("cosine", "bm25"):
            raise InputError("itemknn weighting must be 'cosine' or 'bm25'.")
        self.n_items = data.n_items
        X = data.X if self.params["weighting"] == "cosine" else bm25_weight(data.X)
        self.sim = cosine_neighbors(X, int(self.params["k"]), float(self.params["shrink"]), progress=progress)
        return self

    def score(self, batch: Batch) -> np.ndarray:
        X = batch.X.copy()
        X.data = np.log1p(X.data)
        return np.asarray((X @ self.sim).toarray(), dtype=np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return _sparse_arrays("sim", self.sim)

    def load_arrays(self, arrays: dict[str, np.ndarray], n_items: int) -> None:
        self.n_items, self.sim = n_items, _sparse_from("sim", arrays, n_items)

    def extend_items(self, n_items: int) -> None:
        self.sim, self.n_items = pad_sparse(self.sim, n_items), n_items


class EASE(Model):
    """EASE (Steck 2019): closed-form item-item regression B = I - P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹.

    Large catalogs: the regression covers only the `max_items` most popular items (items are indexed by
    popularity, so that is the leading block); the tail scores below every head item, ordered by
    popularity. Memory is max_items² float32 (20k items: 1.6 GB while fitting).
    """

    name = "ease"
    defaults: ClassVar[dict[str, Any]] = {"l2": 200.0, "max_items": 20000}

    def fit(self, data: TrainData, progress: Progress = None) -> EASE:
        self.n_items = data.n_items
        m = min(self.n_items, int(self.params["max_items"]))
        X = data.X[:, :m].tocsc().astype(np.float32)
        X.data = np.ones_like(X.data)
        G = (X.T @ X).toarray().astype(np.float32)
        G[np.diag_indices(m)] += float(self.params["l2"])
        if progress:
            progress("ease", 0, 1)
        try:
            P = np.linalg.inv(G)  # float32 LU inverse: ~n³ flops, faster here than LAPACK potri
        except np.linalg.LinAlgError as e:
            raise InputError(f"EASE: singular Gram matrix ({e}); raise l2.") from e
        del G
        d = np.diag(P).copy()
        P /= -d[None, :]
        P[np.diag_indices(m)] = 0.0
        self.B = P.astype(np.float32)
        if progress:
            progress("ease", 1, 1)
        return self

    def score(self, batch: Batch) -> np.ndarray:
        m = self.B.shape[0]
        X = batch.X[:, :m].copy()
        X.data = np.ones_like(X.data)
        out = np.full((batch.X.shape[0], self.n_items), -1e6, np.float32)
        out[:, :m] = X @ self.B
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"B": self.B}

    def load_arrays(self, arrays: dict[str, np.ndarray], n_items: int) -> None:
        self.n_items, self.B = n_items, arrays["B"]

    def extend_items(self, n_items: int) -> None:
        self.n_items = n_items


class IALS(Model):
    """Implicit ALS (Hu, Koren, Volinsky 2008) with conjugate-gradient solves (Takács et al. 2011).

    Confidence c_ui = 1 + alpha·w_ui, preference 1 on observed pairs. Item factors are stored; a user's
    factors are solved from their history at query time (the exact ALS user step), which is the fold-in.
    """

    name = "ials"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "l2": 1.0,
        "alpha": 10.0,
        "iterations": 10,
        "cg_steps": 3,
        "seed": 0,
    }

    def fit(self, data: TrainData, progress: Progress = None) -> IALS:
        p = self.params
        self.n_items = data.n_items
        rng = np.random.default_rng(int(p["seed"]))
        f = int(p["factors"])
        X = data.X.tocsr().astype(np.float32)
        XT = X.T.tocsr()
        U = (rng.standard_normal((X.shape[0], f)) * 0.01).astype(np.float32)
        V = (rng.standard_normal((X.shape[1], f)) * 0.01).astype(np.float32)
        for it in range(int(p["iterations"])):
            U = self._cg(X, V, U)
            V = self._cg(XT, U, V)
            if progress:
                progress("ials", it + 1, int(p["iterations"]))
        self.V, self._gram_cache = V, None
        return self

    def _cg(self, C: sp.csr_matrix, Y: np.ndarray, X0: np.ndarray, steps: int | None = None) -> np.ndarray:
        """Minimise Σ_i c_ui (p_ui - x_u·y_i)² + l2·|x_u|² for every row u with a few CG steps."""
        alpha, l2 = float(self.params["alpha"]), float(self.params["l2"])
        steps = int(self.params["cg_steps"]) if steps is None else steps
        YtY = (Y.T @ Y).astype(np.float64)
        YtY[np.diag_indices_from(YtY)] += l2
        YtY = YtY.astype(np.float32)
        rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
        conf = (alpha * C.data).astype(np.float32)  # c - 1
        Yg = Y[C.indices]  # nnz × f

        def apply(x: np.ndarray) -> np.ndarray:
            d = np.einsum("nf,nf->n", Yg, x[rows]) * conf
            return x @ YtY + sp.csr_matrix((d, C.indices, C.indptr), shape=C.shape) @ Y

        b = sp.csr_matrix((1.0 + conf, C.indices, C.indptr), shape=C.shape) @ Y
        x = X0.copy()
        r = b - apply(x)
        pvec = r.copy()
        rs = np.einsum("uf,uf->u", r, r)
        for _ in range(steps):
            Ap = apply(pvec)
            denom = np.einsum("uf,uf->u", pvec, Ap)
            a = np.where(denom > 0, rs / np.where(denom > 0, denom, 1), 0).astype(np.float32)
            x += a[:, None] * pvec
            r -= a[:, None] * Ap
            rs_new = np.einsum("uf,uf->u", r, r)
            beta = np.where(rs > 0, rs_new / np.where(rs > 0, rs, 1), 0).astype(np.float32)
            pvec = r + beta[:, None] * pvec
            rs = rs_new
        return x

    def _gram(self) -> np.ndarray:
        """VᵀV + l2·I in float64, computed once per loaded model (it dominates single-user latency)."""
        if getattr(self, "_gram_cache", None) is None:
            V = np.asarray(self.V, np.float64)
            self._gram_cache = V.T @ V + float(self.params["l2"]) * np.eye(V.shape[1])
        return self._gram_cache

    def user_factors(self, X: sp.csr_matrix) -> np.ndarray:
        """Exact least-squares user factors for history rows (batched f×f solves)."""
        alpha = float(self.params["alpha"])
        base = self._gram()
        out = np.zeros((X.shape[0], base.shape[0]), np.float32)
        X = X.tocsr()
        for r in range(X.shape[0]):
            idx = X.indices[X.indptr[r] : X.indptr[r + 1]]
            if len(idx) == 0:
                continue
            c = alpha * X.data[X.indptr[r] : X.indptr[r + 1]].astype(np.float64)
            Vi = self.V[idx].astype(np.float64)
            A = base + (Vi * c[:, None]).T @ Vi
            out[r] = np.linalg.solve(A, Vi.T @ (1.0 + c))
        return out

    def score(self, batch: Batch) -> np.ndarray:
        if batch.X.shape[0] > 64:
            # Batches (evaluation): warm-started CG from zero converges to the same least-squares solution.
            U = self._cg(
                batch.X.tocsr().astype(np.float32),
                self.V,
                np.zeros((batch.X.shape[0], self.V.shape[1]), np.float32),
                steps=8,
            )
        else:
            U = self.user_factors(batch.X)
        out = U @ self.V.T
        if self.V.shape[0] < self.n_items:
            out = np.concatenate(
                [out, np.full((out.shape[0], self.n_items - self.V.shape[0]), -1e6, np.float32)], axis=1
            )
        return out.astype(np.float32, copy=False)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"V": self.V}

    def load_arrays(self, arrays: dict[str, np.ndarray], n_items: int) -> None:
        self.n_items, self.V, self._gram_cache = n_items, arrays["V"], None

    def extend_items(self, n_items: int) -> None:
        self.n_items = n_items


class Sequential(Model):
    """Sequential item-to-item transitions (a first-order Markov / session-kNN hybrid).

    T_ij counts j following i within `window` steps in a user's sequence (weight step_decay**(gap-1);
    reverse transitions count `backward`), normalised by (count_i·count_j)^(norm/2) and pruned to the top-k
    per item. A user's score is Σ_k decay**k · T[s_{-1-k}] over the `last` most recent items, plus
    `knn_mix` times an item-kNN cosine score over the whole history (long-term taste).
    """

    name = "seq"
    defaults: ClassVar[dict[str, Any]] = {
        "window": 3,
        "step_decay": 0.5,
        "backward": 0.5,
        "norm": 1.0,
        "k": 100,
        "decay": 0.6,
        "last": 10,
        "knn_mix": 0.0,
    }

    def fit(self, data: TrainData, progress: Progress = None) -> Sequential:
        p = self.params
        self.n_items = n = data.n_items
        indptr, items = data.seq_indptr, data.seq_items
        owner = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        rows, cols, vals = [], [], []
        for gap in range(1, int(p["window"]) + 1):
            ok = owner[gap:] == owner[:-gap]
            a, b = items[:-gap][ok], items[gap:][ok]
            w = np.full(len(a), float(p["step_decay"]) ** (gap - 1), np.float32)
            rows += [a, b]
            cols += [b, a]
            vals += [w, w * float(p["backward"])]
        if rows:
            T = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(n, n),
                dtype=np.float32,
            )
        else:
            T = sp.csr_matrix((n, n), dtype=np.float32)
        T.sum_duplicates()
        T.setdiag(0)
        cnt = np.bincount(items, minlength=n).astype(np.float32) + 1.0
        Tc = T.tocoo()
        v = Tc.data / (cnt[Tc.row] * cnt[Tc.col]) ** (float(p["norm"]) / 2)
        self.T = topk_rows(sp.csr_matrix((v, (Tc.row, Tc.col)), shape=(n, n), dtype=np.float32), int(p["k"]))
        if float(p["knn_mix"]) > 0:
            self.sim = cosine_neighbors(data.X, int(p["k"]), 10.0, progress=progress)
        else:
            self.sim = sp.csr_matrix((n, n), dtype=np.float32)
        if progress:
            progress("seq", 1, 1)
        return self

    def score(self, batch: Batch) -> np.ndarray:
        p = self.params
        H = recency_matrix(batch.seqs, self.n_items, float(p["decay"]), int(p["last"]))
        s = H @ self.T
        if float(p["knn_mix"]) > 0:
            X = batch.X.copy()
            X.data = np.ones_like(X.data) / np.sqrt(np.maximum(np.diff(X.indptr), 1)).repeat(
                np.diff(X.indptr)
            )
            s = s + float(p["knn_mix"]) * (X @ self.sim)
        return np.asarray(s.toarray(), dtype=np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {**_sparse_arrays("T", self.T), **_sparse_arrays("sim", self.sim)}

    def load_arrays(self, arrays: dict[str, np.ndarray], n_items: int) -> None:
        self.n_items = n_items
        self.T, self.sim = _sparse_from("T", arrays, n_items), _sparse_from("sim", arrays, n_items)

    def extend_items(self, n_items: int) -> None:
        self.T, self.sim, self.n_items = pad_sparse(self.T, n_items), pad_sparse(self.sim, n_items), n_items


MODELS: dict[str, type[Model]] = {m.name: m for m in (Popularity, ItemKNN, EASE, IALS, Sequential)}


def make_model(name: str, **params: Any) -> Model:
    if name not in MODELS:
        raise InputError(f"unknown model '{name}'; choose one of: auto, {', '.join(MODELS)}.")
    return MODELS[name](**params)
