"""The nouns of InHouse: documents, chunks, search hits and the principal who asks.

Plain dataclasses with no behaviour beyond small derived properties; every stage speaks these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """Who is asking: a tenant, a user, and the access groups the user belongs to."""

    tenant: str
    user: str
    groups: tuple[str, ...] = ()


@dataclass
class Block:
    """A piece of a loaded document before chunking: a paragraph, a table row, a catalog record."""

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    # Offset of this block in the document's full text (blocks joined by "\n\n").
    start: int = 0
    # A catalog record (CSV/JSONL/XLSX row) is its own chunk and is never merged with its neighbours.
    record: bool = False


@dataclass
class Document:
    """A source file as stored: where it came from, who may read it and a hash of its bytes."""

    path: str  # relative to the folder given to ingest
    tenant: str
    groups: tuple[str, ...]
    sha256: str
    kind: str  # loader name: pdf, docx, html, md, txt, csv, jsonl, xlsx
    pages: int = 1
    id: int | None = None
    title: str = ""
    root: str = ""  # absolute folder (or file) given to ingest; --sync works per root
    size: int = 0


@dataclass
class Chunk:
    """A retrievable unit of text with everything a citation needs."""

    text: str
    page: int | None
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int
    ordinal: int = 0  # position of the chunk within its document
    id: int | None = None
    doc_path: str = ""
    # Kinds the reader view's screening flagged in the text (inhouse.guard.view), when it was read through one.
    flags: tuple[str, ...] = ()


@dataclass
class Citation:
    """A passage of the tenant's documents an application's reply cites as [n] (a shop's policy, a rule)."""

    n: int
    doc_path: str
    heading: str
    snippet: str
    chunk_id: int

    def to_dict(self) -> dict:
        return {"n": self.n, "doc_path": self.doc_path, "heading": self.heading, "snippet": self.snippet,
                "chunk_id": self.chunk_id}


@dataclass
class Hit:
    """One search result: a chunk, its fused score and the ranks each retriever gave it."""

    chunk_id: int
    doc_path: str
    page: int | None
    score: float
    text: str
    snippet: str = ""
    heading_path: tuple[str, ...] = ()
    ranks: dict[str, int] = field(default_factory=dict)
    flags: tuple[str, ...] = ()  # what the reader view's screening flagged in the chunk (see Chunk.flags)

    def to_json(self) -> dict:
        return {
            "chunk_id": self.chunk_id,
            "doc_path": self.doc_path,
            "page": self.page,
            "score": round(self.score, 6),
            "text": self.text,
            "snippet": self.snippet,
        } | ({"flags": list(self.flags)} if self.flags else {})
