"""Content similarity from catalog text, for cold-start items (no interactions yet).

Item texts are embedded with an InHouse embedder (`inhouse.models.embedders.load_embedder`), whose
vectors are L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import numpy as np

from inhouse.apps.recommend.data import Catalog
from inhouse.apps.recommend.models import Progress

E5_MAX_ITEMS = 500  # e5-small embeds ~3 texts/s on 2 cores: 'auto' uses it only for small catalogs


def pick_embedder(name: str, n_items: int) -> str:
    if name != "auto":
        return name
    return "e5-small" if n_items <= E5_MAX_ITEMS else "hash"


def embed_catalog(
    catalog: Catalog, embedder: str, progress: Progress = None, batch: int = 64
) -> tuple[list[str], np.ndarray]:
    """(item ids, float32 L2-normalised embeddings) for every catalog item with text."""
    from inhouse.models.embedders import load_embedder

    ids = [i for i, t in catalog.texts.items() if t.strip()]
    emb = load_embedder(embedder)
    parts = []
    for start in range(0, len(ids), batch):
        chunk = [catalog.texts[i] for i in ids[start : start + batch]]
        parts.append(np.asarray(emb.embed(chunk), np.float32))
        if progress:
            progress("embed", min(start + batch, len(ids)), len(ids))
    vectors = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    return ids, vectors


def nearest(
    vectors: np.ndarray, query: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `vectors` most similar to `query` (top-k, descending), skipping `exclude` rows."""
    sims = vectors @ query.astype(np.float32)
    if exclude is not None and len(exclude):
        sims[exclude] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.lexsort((top, -sims[top]))]
    return top, sims[top]
