"""Move the embedded store into PostgreSQL: every document with its groups, chunks, lexical terms and vectors,
then vacuumed (so searches read the indexes alone) and both sides counted and hashed.

Documents the target does not hold are bulk-loaded: a few thousand chunks a transaction, written with COPY
(`PostgresStore.load_documents`); into an empty target, the postings' key, index and foreign key are dropped
first and built once at the end (`begin_bulk`/`end_bulk`; a copy killed in between builds them when run
again), and a vector model new to the target gets its HNSW index built once its vectors are in.

A copy that stops (a crash, Ctrl-C, a lost connection) resumes where it was: batches are whole or absent; a
document already in the target with the same content hash, chunk count and vectors is left alone, one that
differs is written again (one transaction each). Chunk ids are the target's own; everything that names a chunk
by its content (paths, ordinals) is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from inhouse.errors import StoreError
from inhouse.store.postgres import PostgresStore
from inhouse.store.sqlite import SQLiteStore
from inhouse.types import Chunk


@dataclass
class CopyReport:
    documents: int = 0
    copied: int = 0
    unchanged: int = 0
    chunks: int = 0
    vectors: dict[str, int] = field(default_factory=dict)
    meta: int = 0
    hashes: dict[str, str] = field(default_factory=dict)  # what both sides hashed to, by part

    def to_json(self) -> dict:
        return {"documents": self.documents, "copied": self.copied, "unchanged": self.unchanged,
                "chunks": self.chunks, "vectors": self.vectors, "meta": self.meta, "hashes": self.hashes}


def _chunks_sql(store: SQLiteStore | PostgresStore, mark: str) -> str:
    return ("SELECT c.id, c.ordinal, c.text, c.page, c.heading, c.char_start, c.char_end, c.terms FROM chunks c "
            f"JOIN documents d ON d.id = c.doc_id WHERE d.tenant = {mark} AND d.path = {mark} ORDER BY c.ordinal, c.id")


def _source_rows(src: SQLiteStore, tenant: str, path: str) -> tuple[list[tuple], dict[str, dict[int, bytes]]]:
    rows = src.conn.execute(_chunks_sql(src, "?"), (tenant, path)).fetchall()
    vectors: dict[str, dict[int, bytes]] = {}
    ids = [r[0] for r in rows]
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        for cid, model, vec in src.conn.execute(
                f"SELECT chunk_id, model, vector FROM embeddings WHERE chunk_id IN ({','.join('?' * len(part))})",
                part):
            vectors.setdefault(model, {})[cid] = vec
    return rows, vectors


def written(rows: list[tuple], by_model: dict[str, list[bytes | None]]) -> tuple[
        list[Chunk], list[str], dict[str, list[np.ndarray | None]]]:
    """A source document's chunks, terms and vectors by model, as the target's writers take them."""
    chunks = [Chunk(text=r[2], page=r[3], heading_path=tuple(json.loads(r[4])), char_start=r[5], char_end=r[6],
                    ordinal=r[1]) for r in rows]
    arrays = {m: [None if b is None else np.frombuffer(b, dtype=np.float32) for b in vecs]
              for m, vecs in by_model.items()}
    return chunks, [r[7] for r in rows], arrays


def _digest(rows: list[tuple], groups: tuple[str, ...], vectors: dict[str, list[bytes | None]]) -> str:
    """A document's content as both stores hold it: chunks (text, place, terms), groups, vectors by model."""
    h = hashlib.sha256(json.dumps([list(groups), [list(r[1:]) for r in rows]], ensure_ascii=False).encode())
    for model in sorted(vectors):
        h.update(model.encode())
        for v in vectors[model]:
            h.update(b"-" if v is None else v)
    return h.hexdigest()


def _target_state(dst: PostgresStore, tenant: str, path: str) -> tuple[str | None, str | None]:
    """(sha256, content digest) of the document in the target, or (None, None)."""

    def read(c) -> tuple[str | None, str | None]:  # noqa: ANN001
        doc = c.execute("SELECT id, sha256, ARRAY(SELECT grp FROM doc_groups g WHERE g.doc_id = d.id ORDER BY grp) "
                        "FROM documents d WHERE tenant = %s AND path = %s", (tenant, path)).fetchone()
        if doc is None:
            return None, None
        rows = c.execute(_chunks_sql(dst, "%s"), (tenant, path)).fetchall()
        vectors: dict[str, dict[int, bytes]] = {}
        for cid, model, vec in c.execute("SELECT e.chunk_id, e.model, e.vector FROM embeddings e JOIN chunks c "
                                         "ON c.id = e.chunk_id WHERE c.doc_id = %s", (doc[0],)):
            vectors.setdefault(model, {})[cid] = np.asarray(vec.to_numpy(), dtype=np.float32).tobytes()
        by_model = {m: [v.get(r[0]) for r in rows] for m, v in vectors.items()}
        return doc[1], _digest(rows, tuple(doc[2]), by_model)

    return dst._read(read)


def copy_store(src: SQLiteStore, dst: PostgresStore,
               progress: Callable[[str, int, int], None] | None = None, batch_chunks: int = 5000) -> CopyReport:
    """Copy every document of `src` into `dst` (resuming a copy that stopped), then verify: the same documents,
    chunks and vectors on both sides, hashed. Raises StoreError naming what differs."""
    report = CopyReport()
    docs = src.list_documents()
    report.documents = len(docs)
    dst.end_bulk()  # a bulk load killed before its end: its postings' key and indexes first
    there = {(d.tenant, d.path) for d in dst.list_documents()}
    bulk = not there and dst.begin_bulk()
    batch: list[tuple] = []
    batched = 0  # chunks in the batch

    def flush() -> None:
        nonlocal batched
        dst.load_documents(batch)
        report.copied += len(batch)
        batch.clear()
        batched = 0

    for n, doc in enumerate(docs, 1):
        rows, vectors = _source_rows(src, doc.tenant, doc.path)
        by_model = {m: [v.get(r[0]) for r in rows] for m, v in vectors.items()}
        if (doc.tenant, doc.path) not in there:
            batch.append((doc, *written(rows, by_model)))
            batched += len(rows)
            if batched >= batch_chunks:
                flush()
        else:
            want = _digest(rows, tuple(sorted(set(doc.groups))), by_model)
            sha, have = _target_state(dst, doc.tenant, doc.path)
            if sha == doc.sha256 and have == want:
                report.unchanged += 1
            else:
                chunks, terms, arrays = written(rows, by_model)
                dst.replace_document(doc, chunks, terms, vectors=arrays)
                report.copied += 1
        report.chunks += len(rows)
        for m, vecs in by_model.items():
            report.vectors[m] = report.vectors.get(m, 0) + sum(v is not None for v in vecs)
        if progress:
            progress("documents", n, len(docs))
    if batch:
        flush()
    if bulk:
        if progress:
            progress("postings index", 0, 1)
        dst.end_bulk()
    for key, value in src.conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall():
        if dst.get_meta(key) != value:
            dst.set_meta(key, value)
        report.meta += 1
    if progress:
        progress("vector index", 0, 1)
    dst.build_vector_indexes()
    dst.vacuum()
    if progress:
        progress("verifying", 0, 1)
    _verify(src, dst, report)
    return report


def _verify(src: SQLiteStore, dst: PostgresStore, report: CopyReport) -> None:
    """Counts and one hash over every document's content, computed on each side from what it stores."""
    problems = []
    for model in sorted(report.vectors):
        a, b = src.stats(model), dst.stats(model)
        for k in ("documents", "chunks", "pages", "embedded"):
            if a[k] != b[k]:
                problems.append(f"{k}{'' if k != 'embedded' else f' ({model})'}: {a[k]} here, {b[k]} there")
    if not report.vectors:
        a, b = src.stats(), dst.stats()
        problems += [f"{k}: {a[k]} here, {b[k]} there" for k in ("documents", "chunks", "pages") if a[k] != b[k]]
    both = [hashlib.sha256(), hashlib.sha256()]
    for doc in src.list_documents():
        rows, vectors = _source_rows(src, doc.tenant, doc.path)
        both[0].update(_digest(rows, tuple(sorted(set(doc.groups))),
                               {m: [v.get(r[0]) for r in rows] for m, v in vectors.items()}).encode())
        both[1].update((_target_state(dst, doc.tenant, doc.path)[1] or "missing").encode())
    report.hashes = {"source": both[0].hexdigest(), "target": both[1].hexdigest()}
    if both[0].digest() != both[1].digest():
        problems.append("the documents' content hashes differ")
    problems += [f"target: {p}" for p in dst.check()]
    if problems:
        raise StoreError(f"the copy to {dst.location} does not match the store it came from: {'; '.join(problems)}. "
                         "Run the copy again (it resumes and rewrites what differs).")
