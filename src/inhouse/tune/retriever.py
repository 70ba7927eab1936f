"""A retriever adapted to a tenant's questions: a linear map on query vectors (`inhouse tune retriever`).

The passage vectors stay as they are (no re-embedding, so the same index serves both); each query vector is
mapped by a square matrix W learned from (question, gold chunk) pairs, then normalised: q' = Wq / |Wq|.
Training minimises the contrastive loss of the gold chunk against in-batch negatives (the other questions'
chunks) and hard negatives (chunks retrieval ranked above or near the gold), at temperature `tau`, with W pulled
towards the identity (`reg`) so that what was not trained stays close to the base embedder (the linear
adapters of LlamaIndex's EmbeddingAdapterFinetuneEngine, trained here in numpy with Adam).

An adapter is a `.npz` file: W, the base embedder's name and dimension, the training data's SHA-256 and
counts. `AdaptedEmbedder` serves it under the base embedder's name, so dense search reads the stored vectors.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inhouse.errors import InputError, NotFoundError
from inhouse.files import atomic_write, sha256_file
from inhouse.protocols import Embedder, Store
from inhouse.types import Principal


@dataclass
class TrainReport:
    pairs: int
    epochs: int
    loss_first: float
    loss_last: float
    history: list[float] = field(default_factory=list)


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n == 0, 1, n)


def train(queries: np.ndarray, golds: np.ndarray, negatives: np.ndarray | None = None, *, epochs: int = 30,
          batch: int = 32, lr: float = 2e-3, tau: float = 0.05, reg: float = 1e-2, seed: int = 0,
          progress: Callable[[int, int, float], None] | None = None) -> tuple[np.ndarray, TrainReport]:
    """W (d × d) from query vectors (n × d), their gold passage vectors (n × d) and hard negatives (n × h × d).

    Loss per query: −log softmax over [batch golds, its own negatives] of (Wq/|Wq|)·p / tau, plus
    reg·|W − I|² (mean over the batch)."""
    n, d = queries.shape
    if n < 2:
        raise InputError(f"training the retriever needs at least 2 question-chunk pairs, got {n}.")
    if golds.shape != (n, d):
        raise InputError(f"gold vectors have shape {golds.shape}, expected {(n, d)}.")
    negatives = np.zeros((n, 0, d), dtype=np.float32) if negatives is None else negatives
    rng = np.random.default_rng(seed)
    w = np.eye(d, dtype=np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    history: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            q, g, neg = queries[idx].astype(np.float64), golds[idx].astype(np.float64), negatives[idx]
            z = q @ w.T  # (b, d)
            norm = np.linalg.norm(z, axis=1, keepdims=True)
            u = z / norm
            b = len(idx)
            # Candidates per query: every gold of the batch, then its own hard negatives.
            cand = np.concatenate([np.broadcast_to(g, (b, b, d)), neg.astype(np.float64)], axis=1)  # (b, b+h, d)
            logits = np.einsum("bd,bcd->bc", u, cand) / tau
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            losses.append(float(-np.log(p[np.arange(b), np.arange(b)] + 1e-12).mean()))
            p[np.arange(b), np.arange(b)] -= 1.0
            du = np.einsum("bc,bcd->bd", p, cand) / tau / b  # dL/du
            dz = (du - u * np.sum(du * u, axis=1, keepdims=True)) / norm  # through the normalisation
            grad = dz.T @ q + 2 * reg * (w - np.eye(d))
            step += 1
            m = b1 * m + (1 - b1) * grad
            v = b2 * v + (1 - b2) * grad * grad
            w -= lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
        history.append(float(np.mean(losses)))
        if progress:
            progress(epoch + 1, epochs, history[-1])
    return w.astype(np.float32), TrainReport(n, epochs, history[0], history[-1], history)


def save(path: Path, w: np.ndarray, base: str, meta: dict) -> str:
    """Write an adapter atomically; returns its SHA-256."""
    buf = io.BytesIO()
    np.savez(buf, w=w, meta=np.array(json.dumps({"base": base, "dim": int(w.shape[0]), **meta})))
    atomic_write(path, lambda f: f.write(buf.getvalue()))
    return sha256_file(path)


def load(path: Path) -> tuple[np.ndarray, dict]:
    """W and the metadata of an adapter file, with a clear error for anything else."""
    if not path.is_file():
        raise NotFoundError(f"no retriever adapter at {path}; train one with `inhouse tune retriever`.")
    try:
        with np.load(path, allow_pickle=False) as z:
            w, meta = z["w"], json.loads(str(z["meta"]))
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a retriever adapter ({e}); train one with `inhouse tune retriever`.") from e
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] != meta.get("dim"):
        raise InputError(f"{path} holds a {w.shape} matrix, not a square adapter for its base embedder.")
    return w.astype(np.float32), meta


class AdaptedEmbedder:
    """`base` with its query vectors mapped by an adapter; passages (and the name the store files their vectors
    under) are the base embedder's."""

    def __init__(self, base: Embedder, w: np.ndarray, adapter: str = "") -> None:
        if w.shape != (base.dim, base.dim):
            raise InputError(f"the adapter is {w.shape[0]}-d but embedder '{base.name}' is {base.dim}-d; "
                             "train it on this embedder's vectors.")
        self.base, self.w, self.adapter = base, w, adapter
        self.name, self.dim = base.name, base.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.adapt(self.base.embed_query(text))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.adapt(self.base.embed_queries(texts))

    def adapt(self, vectors: np.ndarray) -> np.ndarray:
        """Query vectors (d or n × d) as the adapter maps them."""
        return _normalise(vectors @ self.w.T).astype(np.float32)


def data_hash(rows: Sequence[tuple[str, int]]) -> str:
    """SHA-256 of the (question, chunk id) pairs an adapter was trained on."""
    h = hashlib.sha256()
    for q, cid in rows:
        h.update(f"{q}\0{cid}\n".encode())
    return h.hexdigest()


def fit(store: Store, principal: Principal, embedder: Embedder, examples: Sequence[dict], out: Path, *,
        epochs: int = 30, hard_negatives: int = 3, seed: int = 0,
        progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train an adapter on the answerable training examples of `inhouse tune data` and write it to `out`.

    Gold vectors are the stored vectors of the examples' chunks; hard negatives are the chunks of other
    documents the base embedder ranks highest for the question. Returns what `inhouse tune retriever` reports.
    """
    pairs = [(e["question"], e["source"]["chunk_id"], e["source"]["doc_path"]) for e in examples
             if e["kind"] == "answerable" and e["split"] == "train"]
    gold = store.get_vectors(embedder.name, [cid for _, cid, _ in pairs])
    pairs = [p for p in pairs if p[1] in gold]
    if len(pairs) < 2:
        raise InputError(f"only {len(pairs)} training questions with embedded chunks; build more with "
                         "`inhouse tune data` (and `inhouse embed`) first.")
    queries = embedder.embed_queries([q for q, _, _ in pairs])
    negatives = []
    for qv, (_, _, doc_path) in zip(queries, pairs, strict=True):
        ids = [i for i, _ in store.dense_search(principal, qv, embedder.name, hard_negatives + 20)]
        chunks = store.get_chunks(principal, ids)
        picked = [i for i in ids if i in chunks and chunks[i].doc_path != doc_path][:hard_negatives]
        vecs = store.get_vectors(embedder.name, picked)
        rows = [vecs[i] for i in picked if i in vecs]
        rows += [np.zeros(embedder.dim, dtype=np.float32)] * (hard_negatives - len(rows))  # scores 0: no pull
        negatives.append(np.stack(rows) if rows else np.zeros((0, embedder.dim), dtype=np.float32))
    w, report = train(queries, np.stack([gold[cid] for _, cid, _ in pairs]), np.stack(negatives),
                      epochs=epochs, seed=seed, progress=progress)
    digest = data_hash([(q, cid) for q, cid, _ in pairs])
    sha = save(out, w, embedder.name, {"tenant": principal.tenant, "pairs": len(pairs), "epochs": epochs,
                                       "data_sha256": digest})
    return {"adapter": str(out), "sha256": sha, "base": embedder.name, "pairs": len(pairs),
            "data_sha256": digest, "loss": [round(report.loss_first, 4), round(report.loss_last, 4)]}


def adapter_path(home: Path, tenant: str) -> Path:
    """Where a tenant's retriever adapter lives."""
    return home / "adapters" / "retriever" / f"{tenant}.npz"


def for_tenant(embedder: Embedder, home: Path, tenant: str) -> Embedder:
    """`embedder` with the tenant's adapter when one was trained on it, else `embedder` itself."""
    path = adapter_path(home, tenant)
    if not path.is_file():
        return embedder
    w, meta = load(path)
    if meta.get("base") != embedder.name:
        return embedder
    return AdaptedEmbedder(embedder, w, adapter=str(path))
