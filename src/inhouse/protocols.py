"""One small Protocol per backend family. Implementations must pass the shared contract tests.

Surfaces and stages depend on these, never on a concrete backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from inhouse.types import Chunk, Document, Principal


@dataclass(frozen=True)
class Reply:
    """What a chat model wrote for one request."""

    text: str
    # Tokens the model generated for it, as its backend counts them (at most `max_tokens`).
    tokens: int
    # Where the backend reports them (`ChatModel.reports_logprobs`, at temperature 0): the log-probability of
    # each generated token as the model chose it, one per token of `tokens`; else empty.
    logprobs: tuple[float, ...] = ()
    # "length": generation stopped at `max_tokens`, so the text may end mid-sentence; else "stop".
    finish: Literal["stop", "length"] = "stop"


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: messages in, a `Reply` out, its text streamed piece by piece as it is written
    (llama.cpp in-process, HTTP engines, scripts). Every backend passes tests/integration/test_chat_contract.py.

    Capabilities are class attributes, declared by each backend (a wrapper passes on its model's).
    """

    name: str
    # At temperature 0, `complete` gives each generated token's log-probability (a measure of how sure the
    # model was); an HTTP backend passes on what its server returns, llama.cpp in-process none under a schema.
    reports_logprobs: ClassVar[bool]
    # `complete(json_schema=...)` constrains the reply to JSON matching the schema; a backend without it
    # refuses the argument (InputError) rather than ignore it.
    supports_json_schema: ClassVar[bool]

    def complete(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        json_schema: dict | None = None,
        on_piece: Callable[[str], None] | None = None,
    ) -> Reply:
        """Generate a reply. `on_piece` receives each piece of its text as it is written (the pieces join
        to `Reply.text`); an exception it raises stops the generation at once and propagates (the server
        cancels a request this way), leaving the model ready for the next call. The text ends before the
        first of the `stop` strings."""
        ...

    def twin(self) -> ChatModel | None:
        """The model that judges this one's claims (inhouse.answer.judge_for) with its own state, so that
        judging keeps this model's cached prompt prefix; None for a model that has none (a script)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; queries and passages may be encoded differently. A text
    with nothing to embed may give zeros (the hash embedder's, for a text without words). Every embedder passes
    tests/integration/test_embedder_contract.py."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors, shape (len(texts), dim)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dim,)."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, shape (len(texts), dim): each row is `embed_query` of its text."""
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

    def get_vectors(self, model: str, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of `model` for the chunks among `ids` that have one (for training adapters)."""
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
