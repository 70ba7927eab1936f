"""One small Protocol per backend family. Implementations must pass the shared contract tests.

Surfaces and stages depend on these, never on a concrete backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from inhouse.types import Chunk, Document, Principal


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: messages in, streamed text pieces out (llama.cpp in-process, HTTP engines, scripts)."""

    name: str

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        json_schema: dict | None = None,
    ) -> Iterator[str]:
        """Yield the reply as it is generated; with `json_schema`, the reply is JSON matching it."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; queries and passages may be encoded differently."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors, shape (len(texts), dim)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dim,)."""
        ...


@runtime_checkable
class Store(Protocol):
    """Documents, chunks, lexical index and vectors, with tenant/group filters inside every search."""

    def get_document(self, tenant: str, path: str) -> Document | None: ...

    def list_documents(self, tenant: str | None = None, root: str | None = None,
                       principal: Principal | None = None) -> list[Document]: ...

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], terms: Sequence[str]) -> int:
        """Insert or replace a document and all its chunks in one transaction; returns the document id."""
        ...

    def set_groups(self, tenant: str, path: str, groups: Sequence[str]) -> None: ...

    def delete_document(self, tenant: str, path: str) -> bool: ...

    def lexical_search(self, principal: Principal, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """(chunk id, score) best first, among chunks the principal may read; scores and the choice of terms
        depend on those chunks alone."""
        ...

    def dense_search(self, principal: Principal, vector: np.ndarray, model: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine) best first, among embedded chunks the principal may read."""
        ...

    def get_chunks(self, principal: Principal, ids: Sequence[int]) -> dict[int, Chunk]:
        """The chunks among `ids` the principal may read (others are silently absent)."""
        ...

    def chunk_ids(self, principal: Principal) -> list[int]:
        """The ids of every chunk the principal may read, ascending."""
        ...

    def pending_embeddings(self, model: str, limit: int, tenant: str | None = None) -> list[tuple[int, str]]:
        """(chunk id, text to embed) for chunks without a vector from `model` (of `tenant` alone if given)."""
        ...

    def put_embeddings(self, model: str, items: Sequence[tuple[int, np.ndarray]]) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def iter_chunk_texts(self, after_id: int, limit: int) -> list[tuple[int, str]]: ...

    def update_terms(self, items: Sequence[tuple[int, str]]) -> None: ...

    def embedding_status(self, model: str, principal: Principal | None = None) -> tuple[int, int]:
        """(chunks, chunks embedded by `model`), among those `principal` may read if given: cheap, for every
        search."""
        ...

    def stats(self, model: str | None = None, tenant: str | None = None) -> dict:
        """Counts (documents, chunks, pages, embedded, embeddings_pending) in the store or in one tenant."""
        ...

    def close(self) -> None: ...
