"""The embedded store: one SQLite database (WAL) holding documents, chunks, an FTS5 index and vectors.

Permissions are part of every search: each chunk's (tenant, group) access tokens are indexed beside
its terms, so the lexical query matches `terms:(…) AND acl:(…)` inside FTS5, and the dense search
scores only rows whose tenant and groups match (a mask built before ranking). A chunk the principal may
not read is never a candidate, let alone a result.

Lexical scores are BM25 over the chunks the principal may read: the number of chunks, their average
length, each term's document frequency and the choice of terms too common to search are counted among
those chunks alone, so what others store moves neither a score nor a rank (`_LexicalIndex`).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from inhouse.errors import InputError, StoreError
from inhouse.files import private_db
from inhouse.store.lexical import (
    PUBLIC_GROUP,
    acl_of,
    acl_token,
    bm25_top,
    embed_text,
    groups_of,
    lexical_length,
    prune,
    readable_classes,
)
from inhouse.types import Chunk, Document, Principal

__all__ = ["PUBLIC_GROUP", "SQLiteStore", "acl_token", "apply_migrations"]

log = logging.getLogger(__name__)

def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class _VectorIndex:
    """All vectors of one model in memory, with per-tenant and per-group masks for filtering.

    Up to IVF_FROM vectors every query scores every row (exact). Above that a scan of all rows costs more
    than the rest of a hybrid query (100k × 384 floats = 154 MB read per query), so the rows are grouped
    by k-means into ~√n lists, stored list by list, and a query scores only the rows of its NPROBE nearest
    lists (an inverted-file index; bench/ingest.py measures its recall against the exact scan).
    """

    IVF_FROM = 50_000
    NPROBE = 24

    def __init__(self, conn: sqlite3.Connection, model: str, generation: int) -> None:
        self.model, self.generation = model, generation
        rows = conn.execute(
            "SELECT e.chunk_id, c.tenant, c.doc_id, e.vector FROM embeddings e "
            "JOIN chunks c ON c.id = e.chunk_id WHERE e.model = ? ORDER BY e.chunk_id",
            (model,),
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = (
            np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        tenants = np.array([r[1] for r in rows], dtype=object)
        doc_ids = np.array([r[2] for r in rows], dtype=np.int64)
        self.centroids: np.ndarray | None = None
        self.offsets: np.ndarray | None = None
        if len(rows) >= self.IVF_FROM:
            self.centroids, assign = _kmeans(matrix, int(np.sqrt(len(rows))))
            order = np.argsort(assign, kind="stable")
            ids, matrix, tenants, doc_ids = ids[order], matrix[order], tenants[order], doc_ids[order]
            self.offsets = np.searchsorted(assign[order], np.arange(len(self.centroids) + 1))
        self.ids, self.matrix = ids, np.ascontiguousarray(matrix)
        self.tenant_masks = {t: tenants == t for t in set(tenants.tolist())}
        self.group_masks: dict[str, np.ndarray] = {}
        for grp, docs in _docs_by_group(conn).items():
            self.group_masks[grp] = np.isin(doc_ids, np.fromiter(docs, dtype=np.int64))

    def search(
        self, principal: Principal, vector: np.ndarray, limit: int, exact: bool = False
    ) -> list[tuple[int, float]]:
        mask = self.tenant_masks.get(principal.tenant)
        if mask is None or not len(self.ids):
            return []
        allowed = np.zeros(len(self.ids), dtype=bool)
        for g in groups_of(principal):
            if g in self.group_masks:
                allowed |= self.group_masks[g]
        allowed &= mask
        vector = vector.astype(np.float32)
        if self.centroids is None or exact:
            rows = np.arange(len(self.ids))
            # One matrix-vector product over every row (cheaper than gathering the allowed ones).
            scores = self.matrix @ vector
        else:
            lists = np.argsort(-(self.centroids @ vector))[: self.NPROBE]
            rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in lists])
            scores = np.concatenate([self.matrix[self.offsets[i]:self.offsets[i + 1]] @ vector for i in lists])
        # Rows the principal may not read are ruled out before anything is ranked.
        ok = allowed[rows]
        rows, scores = rows[ok], scores[ok]
        k = min(limit, len(rows))
        if not k:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[rows[i]]), float(scores[i])) for i in top]


def _kmeans(
    x: np.ndarray, k: int, iters: int = 8, sample: int = 20_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (vectors are unit length): centroids trained on a sample, then every row assigned."""
    rng = np.random.default_rng(seed)
    train = x[rng.choice(len(x), min(sample, len(x)), replace=False)]
    centroids = train[rng.choice(len(train), k, replace=False)].copy()
    for _ in range(iters):
        assign = np.argmax(train @ centroids.T, axis=1)
        for j in range(k):
            members = train[assign == j]
            if len(members):
                c = members.sum(axis=0)
                centroids[j] = c / (np.linalg.norm(c) or 1.0)
    assign = np.concatenate([np.argmax(x[i:i + 20_000] @ centroids.T, axis=1) for i in range(0, len(x), 20_000)])
    return centroids, assign


def _docs_by_group(conn: sqlite3.Connection) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for doc_id, grp in conn.execute("SELECT doc_id, grp FROM doc_groups"):
        out.setdefault(grp, set()).add(doc_id)
    return out


def _ints(text: str) -> np.ndarray:
    """Integers from SQLite's group_concat ("1,2,3"), parsed in C."""
    return np.fromstring(text, dtype=np.int64, sep=",")


@dataclass(frozen=True)
class _View:
    """The part of the index one principal may read: its access classes and their totals."""

    key: tuple  # (acl, version) of each class it reads: what is counted over them holds while this does
    acl: str  # the FTS5 filter on the acl column
    mask: np.ndarray  # over class numbers, True where the principal reads (the last entry: no class)
    chunks: int
    length: int


class _LexicalIndex:
    """Each chunk's access class and length and each class's totals, loaded once per lexical version (the
    sum of the classes' versions, which grows with every change to a chunk's terms or access), and BM25
    over one principal's view of them."""

    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        self.version = version
        self.classes = conn.execute("SELECT acl, chunks, length, version FROM acl_stats ORDER BY acl").fetchall()
        number = {acl: i for i, (acl, *_) in enumerate(self.classes)}
        # One row per class, read from the chunks_acl index alone: "id,length,id,length,…".
        parts = [(number[acl], _ints(pairs).reshape(-1, 2)) for acl, pairs in conn.execute(
            "SELECT acl, group_concat(id || ',' || length) FROM chunks INDEXED BY chunks_acl GROUP BY acl")]
        size = max((int(p[:, 0].max()) + 1 for _, p in parts), default=0)
        self.class_of = np.full(size, len(self.classes), dtype=np.int32)
        self.length_of = np.zeros(size)
        for i, pairs in parts:
            self.class_of[pairs[:, 0]] = i
            self.length_of[pairs[:, 0]] = pairs[:, 1]
        self._views: dict[tuple[str, tuple[str, ...]], _View] = {}

    def view(self, principal: Principal) -> _View:
        groups = tuple(groups_of(principal))
        found = self._views.get((principal.tenant, groups))
        if found is None:
            tokens = [acl_token(principal.tenant, g) for g in groups]
            mask = np.array([*readable_classes(principal, [c[0] for c in self.classes]), False])
            mine = [c for c, m in zip(self.classes, mask, strict=False) if m]
            found = _View(key=tuple((acl, version) for acl, _, _, version in mine), acl=" OR ".join(tokens), mask=mask,
                          chunks=sum(c[1] for c in mine), length=sum(c[2] for c in mine))
            if len(self._views) > 1000:
                self._views.clear()
            self._views[(principal.tenant, groups)] = found
        return found

    def visible(self, view: _View, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` the principal may read (a chunk written since this index was loaded: no)."""
        known = ids < len(self.class_of)
        ok = np.zeros(len(ids), dtype=bool)
        ok[known] = view.mask[self.class_of[ids[known]]]
        return ok

    def bm25(self, view: _View, postings: Sequence[tuple[np.ndarray, np.ndarray]], limit: int,
             k1: float, b: float) -> list[tuple[int, float]]:
        """BM25 (`bm25_top`) over the principal's chunks; one posting list (ids, term frequencies) per term."""
        return bm25_top(view.chunks, view.length, [(ids, tf, self.length_of[ids]) for ids, tf in postings],
                        limit, k1, b)


class SQLiteStore:
    """`Store` over one SQLite file. Safe to share between threads (one connection, a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)  # where the data is, for status lines (a PostgreSQL store: its server)
        private_db(self.path)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.create_function("acl_token", 2, acl_token, deterministic=True)
            self.conn.create_function("lexical_length", 1, lexical_length, deterministic=True)
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"cannot open the store at {self.path}: {e}. If the file is damaged, restore it from a "
                "backup or move it away and re-ingest."
            ) from e
        self._lock = threading.RLock()
        self._vectors: dict[str, _VectorIndex] = {}
        self._status: dict[str | tuple, tuple[int, int, int]] = {}
        self._lexical: _LexicalIndex | None = None
        self._visible_df: OrderedDict[tuple, dict[str, int]] = OrderedDict()
        self._tokens: dict[str, tuple[str, ...]] = {}

    # ---- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        files = sorted(
            (f for f in resources.files("inhouse.store").joinpath("migrations").iterdir() if f.name.endswith(".sql")),
            key=lambda f: f.name,
        )
        apply_migrations(self.conn, ((f.name, f.read_text("utf-8")) for f in files))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; bumps the store generation."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("UPDATE generation SET value = value + 1 WHERE id = 1")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def generation(self) -> int:
        return self.conn.execute("SELECT value FROM generation WHERE id = 1").fetchone()[0]

    # ---- documents ----------------------------------------------------------------------------------
    def _doc(self, row: sqlite3.Row | tuple, groups: Sequence[str]) -> Document:
        id_, tenant, path, root, kind, sha, size, pages, title = row
        return Document(
            path=path, tenant=tenant, groups=tuple(groups), sha256=sha, kind=kind, pages=pages,
            id=id_, title=title, root=root, size=size,
        )

    _DOC_COLS = "id, tenant, path, root, kind, sha256, size, pages, title"

    def get_document(self, tenant: str, path: str) -> Document | None:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {self._DOC_COLS} FROM documents WHERE tenant = ? AND path = ?", (tenant, path)
            ).fetchone()
            if row is None:
                return None
            groups = [
                g for (g,) in self.conn.execute("SELECT grp FROM doc_groups WHERE doc_id = ? ORDER BY grp", (row[0],))
            ]
            return self._doc(row, groups)

    def list_documents(self, tenant: str | None = None, root: str | None = None,
                       principal: Principal | None = None) -> list[Document]:
        """Documents, optionally of one tenant, one ingest root, or only those `principal` may read."""
        sql = f"SELECT {self._DOC_COLS} FROM documents WHERE 1=1"
        args: list[str] = []
        if principal is not None:
            groups = groups_of(principal)
            sql += (" AND tenant = ? AND id IN (SELECT doc_id FROM doc_groups WHERE grp IN "
                    f"({','.join('?' * len(groups))}))")
            args += [principal.tenant, *groups]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if root is not None:
            sql += " AND root = ?"
            args.append(root)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY tenant, path", args).fetchall()
            groups: dict[int, list[str]] = {}
            for doc_id, grp in self.conn.execute("SELECT doc_id, grp FROM doc_groups ORDER BY grp"):
                groups.setdefault(doc_id, []).append(grp)
        return [self._doc(r, groups.get(r[0], [])) for r in rows]

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], terms: Sequence[str]) -> int:
        if len(chunks) != len(terms):
            raise InputError("replace_document: one terms string is needed per chunk.")
        with self.transaction() as c:
            # Vectors of chunks whose text survives the change are kept (only new text is embedded again).
            kept: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
            for heading, text, model, vector in c.execute(
                "SELECT c.heading, c.text, e.model, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id = c.id "
                "JOIN documents d ON d.id = c.doc_id WHERE d.tenant = ? AND d.path = ?", (doc.tenant, doc.path)
            ):
                kept.setdefault((heading, text), []).append((model, vector))
            c.execute("DELETE FROM documents WHERE tenant = ? AND path = ?", (doc.tenant, doc.path))
            cur = c.execute(
                "INSERT INTO documents (tenant, path, root, kind, sha256, size, pages, title) VALUES (?,?,?,?,?,?,?,?)",
                (doc.tenant, doc.path, doc.root, doc.kind, doc.sha256, doc.size, doc.pages, doc.title),
            )
            doc_id = int(cur.lastrowid)
            c.executemany(
                "INSERT INTO doc_groups (doc_id, grp) VALUES (?, ?)",
                [(doc_id, g) for g in sorted(set(doc.groups) or {PUBLIC_GROUP})],
            )
            acl = acl_of(doc.tenant, doc.groups)
            c.executemany(
                "INSERT INTO chunks "
                "(doc_id, tenant, ordinal, text, page, heading, char_start, char_end, terms, acl, length) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (doc_id, doc.tenant, ch.ordinal, ch.text, ch.page,
                     json.dumps(list(ch.heading_path), ensure_ascii=False),
                     ch.char_start, ch.char_end, t, acl, lexical_length(t))
                    for ch, t in zip(chunks, terms, strict=True)
                ],
            )
            if kept:
                rows = c.execute("SELECT id, heading, text FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
                c.executemany(
                    "INSERT INTO embeddings (chunk_id, model, vector) VALUES (?, ?, ?)",
                    [(cid, model, vec) for cid, heading, text in rows for model, vec in kept.get((heading, text), [])],
                )
        doc.id = doc_id
        return doc_id

    def set_groups(self, tenant: str, path: str, groups: Sequence[str]) -> None:
        with self.transaction() as c:
            row = c.execute("SELECT id FROM documents WHERE tenant = ? AND path = ?", (tenant, path)).fetchone()
            if row is None:
                return
            c.execute("DELETE FROM doc_groups WHERE doc_id = ?", (row[0],))
            c.executemany(
                "INSERT INTO doc_groups (doc_id, grp) VALUES (?, ?)",
                [(row[0], g) for g in sorted(set(groups) or {PUBLIC_GROUP})],
            )
            c.execute("UPDATE chunks SET acl = ? WHERE doc_id = ?", (acl_of(tenant, groups), row[0]))

    def delete_document(self, tenant: str, path: str) -> bool:
        with self.transaction() as c:
            cur = c.execute("DELETE FROM documents WHERE tenant = ? AND path = ?", (tenant, path))
            return cur.rowcount > 0

    # ---- search -------------------------------------------------------------------------------------
    # Query terms found in more than this share of the principal's chunks are dropped (when rarer ones
    # remain): they barely change BM25 ranks but make every search read most of a large index. Small sets
    # keep every term. Forced onto KorQuAD (1,133 chunks) this costs 0.8 points of lexical Recall@5; at 100k
    # chunks it halves lexical latency (bench/ingest.py).
    COMMON_TERM_SHARE = 0.05
    PRUNE_FROM_CHUNKS = 5000
    MAX_QUERY_TERMS = 24
    # BM25 parameters, those of FTS5's bm25().
    BM25_K1 = 1.2
    BM25_B = 0.75
    # A term's term frequencies come from its whole posting list (fts5vocab, fast per posting) unless the
    # principal reads under 1/SCAN_RATIO of it: then from the rows it matches among the principal's chunks,
    # re-read one by one (highlight(), ~100× slower per row but blind to the rest).
    SCAN_RATIO = 100

    def lexical_search(self, principal: Principal, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        uniq = list(dict.fromkeys(t for t in terms if t))
        if not uniq or limit < 1:
            return []
        with self._lock:
            index = self._lexical_index()
            view = index.view(principal)
            if not view.chunks:
                return []
            tokens = self._fts_tokens(uniq)
            kept = self._prune_terms(uniq, tokens, view)
            postings = [self._postings(t, tokens[t], df, view, index) for t, df in kept.items()]
        return index.bm25(view, postings, limit, self.BM25_K1, self.BM25_B)

    def _lexical_index(self) -> _LexicalIndex:
        version = self.conn.execute("SELECT COALESCE(SUM(version), 0) FROM acl_stats").fetchone()[0]
        if self._lexical is None or self._lexical.version != version:
            t0 = time.perf_counter()
            self._lexical = _LexicalIndex(self.conn, version)
            log.debug("loaded the lexical index: %d access classes, %d chunk ids in %.2f s",
                      len(self._lexical.classes), len(self._lexical.class_of), time.perf_counter() - t0)
        return self._lexical

    def _fts_tokens(self, terms: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Each term as the FTS5 tokenizer of chunks_fts reads it (English words stemmed, "e-mail" split in
        two), found by indexing the terms in a scratch FTS5 table with the same tokenizer."""
        missing = [t for t in terms if t not in self._tokens]
        if missing:
            q = self.conn.execute
            if q("SELECT 1 FROM sqlite_temp_master WHERE name = 'query_terms'").fetchone() is None:
                ddl = q("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()[0]
                tokenize = re.search(r"tokenize\s*=\s*('(?:[^']|'')*')", ddl)
                q("CREATE VIRTUAL TABLE temp.query_terms USING fts5 "
                  f"(t{', tokenize = ' + tokenize.group(1) if tokenize else ''})")
                q("CREATE VIRTUAL TABLE temp.query_terms_instances USING fts5vocab(temp, query_terms, 'instance')")
            q("DELETE FROM temp.query_terms")
            self.conn.executemany("INSERT INTO temp.query_terms (rowid, t) VALUES (?, ?)", enumerate(missing, 1))
            found: dict[int, list[str]] = {}
            for doc, term in q("SELECT doc, term FROM temp.query_terms_instances ORDER BY doc, offset"):
                found.setdefault(doc, []).append(term)
            if len(self._tokens) > 100_000:
                self._tokens.clear()
            for i, t in enumerate(missing, 1):
                self._tokens[t] = tuple(found.get(i, ()))
        return {t: self._tokens[t] for t in terms}

    def _count_visible(self, term: str, view: _View) -> int:
        """How many of the principal's chunks contain `term` (cached while those chunks are unchanged)."""
        cache = self._visible_df.get(view.key)
        if cache is None:
            cache = self._visible_df[view.key] = {}
            while len(self._visible_df) > 64:
                self._visible_df.popitem(last=False)
        if term not in cache:
            if len(cache) > 50_000:
                cache.clear()
            cache[term] = self.conn.execute(
                "SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                (f"terms : {_phrase(term)} AND acl : ({view.acl})",),
            ).fetchone()[0]
        return cache[term]

    def _prune_terms(self, terms: list[str], tokens: dict[str, tuple[str, ...]], view: _View) -> dict[str, int | None]:
        """The terms to search, each with its document frequency among the principal's chunks where it was
        counted. Which terms are kept depends on those frequencies alone; the index-wide frequency only
        spares counting a term that is rare everywhere (it bounds the principal's)."""
        if view.chunks < self.PRUNE_FROM_CHUNKS and len(terms) <= self.MAX_QUERY_TERMS:
            return dict.fromkeys(terms)
        self.conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')"
        )
        single = list({tokens[t][0] for t in terms if len(tokens[t]) == 1})
        marks = ",".join("?" * len(single))
        everywhere = dict(
            self.conn.execute(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", single).fetchall()
        )
        common = self.COMMON_TERM_SHARE * view.chunks
        df: dict[str, int] = {}
        for t in terms:
            bound = everywhere.get(tokens[t][0], 0) if len(tokens[t]) == 1 else None
            if len(terms) > self.MAX_QUERY_TERMS or bound is None or bound > common:
                df[t] = self._count_visible(t, view)
        kept = prune(terms, df, view.chunks, self.COMMON_TERM_SHARE, self.MAX_QUERY_TERMS)
        return {t: df.get(t) for t in kept}

    def _postings(self, term: str, tokens: tuple[str, ...], df: int | None, view: _View,
                  index: _LexicalIndex) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, term frequencies) of `term` among the principal's chunks, ids ascending."""
        if not tokens:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        q = self.conn.execute
        if len(tokens) == 1:
            q("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')")
            row = q("SELECT doc FROM temp.chunks_vocab WHERE term = ?", tokens).fetchone()
            if row is None:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            if df is None or row[0] <= self.SCAN_RATIO * df:
                q("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_instances "
                  "USING fts5vocab(main, chunks_fts, 'instance')")
                # One row per occurrence, in chunk id order; the occurrences of one chunk are its term frequency.
                docs = q("SELECT group_concat(doc) FROM temp.chunks_instances WHERE term = ? AND col = 'terms'",
                         tokens).fetchone()[0]
                if not docs:
                    return np.zeros(0, dtype=np.int64), np.zeros(0)
                ids, tf = np.unique(_ints(docs), return_counts=True)
                ok = index.visible(view, ids)
                return ids[ok], tf[ok].astype(np.float64)
        # A phrase of several tokens, or a term the principal reads a small part of: its matches among the
        # principal's chunks, each with its occurrences marked.
        rows = q("SELECT rowid, highlight(chunks_fts, 0, char(1), '') FROM chunks_fts WHERE chunks_fts MATCH ? "
                 "ORDER BY rowid", (f"terms : {_phrase(term)} AND acl : ({view.acl})",)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return ids, np.array([max(1, r[1].count("\x01")) for r in rows], dtype=np.float64)

    def dense_search(self, principal: Principal, vector: np.ndarray, model: str, limit: int) -> list[tuple[int, float]]:
        with self._lock:
            gen = self.generation()
            index = self._vectors.get(model)
            if index is None or index.generation != gen:
                t0 = time.perf_counter()
                index = self._vectors[model] = _VectorIndex(self.conn, model, gen)
                log.debug("loaded the %s vector index: %d rows%s in %.2f s", model, len(index.ids),
                          f", {len(index.centroids)} lists" if index.centroids is not None else "",
                          time.perf_counter() - t0)
        return index.search(principal, vector, limit)

    def chunk_ids(self, principal: Principal) -> list[int]:
        groups = groups_of(principal)
        sql = ("SELECT c.id FROM chunks c WHERE c.tenant = ? AND c.doc_id IN "
               f"(SELECT doc_id FROM doc_groups WHERE grp IN ({','.join('?' * len(groups))})) ORDER BY c.id")
        with self._lock:
            return [r[0] for r in self.conn.execute(sql, (principal.tenant, *groups))]

    def get_chunks(self, principal: Principal, ids: Sequence[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        groups = groups_of(principal)
        sql = (
            "SELECT c.id, c.text, c.page, c.heading, c.char_start, c.char_end, c.ordinal, d.path "
            "FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id IN ({','.join('?' * len(ids))}) AND c.tenant = ? "
            f"AND c.doc_id IN (SELECT doc_id FROM doc_groups WHERE grp IN ({','.join('?' * len(groups))}))"
        )
        with self._lock:
            rows = self.conn.execute(sql, (*ids, principal.tenant, *groups)).fetchall()
        return {
            r[0]: Chunk(
                text=r[1], page=r[2], heading_path=tuple(json.loads(r[3])), char_start=r[4], char_end=r[5],
                ordinal=r[6], id=r[0], doc_path=r[7],
            )
            for r in rows
        }

    # ---- embeddings ---------------------------------------------------------------------------------
    def pending_embeddings(self, model: str, limit: int, tenant: str | None = None) -> list[tuple[int, str]]:
        only = "" if tenant is None else " AND c.tenant = ?"
        with self._lock:
            rows = self.conn.execute(
                "SELECT c.id, c.heading, c.text FROM chunks c LEFT JOIN embeddings e "
                f"ON e.chunk_id = c.id AND e.model = ? WHERE e.chunk_id IS NULL{only} ORDER BY c.id LIMIT ?",
                (model, *([] if tenant is None else [tenant]), limit),
            ).fetchall()
        return [(i, embed_text(json.loads(h), t)) for i, h, t in rows]

    def get_vectors(self, model: str, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                f"SELECT chunk_id, vector FROM embeddings WHERE model = ? AND chunk_id IN ({','.join('?' * len(ids))})",
                (model, *ids)).fetchall()
        return {i: np.frombuffer(v, dtype=np.float32).copy() for i, v in rows}

    def put_embeddings(self, model: str, items: Sequence[tuple[int, np.ndarray]]) -> None:
        with self.transaction() as c:
            # A chunk deleted since it was read is skipped by the join (no orphan vectors).
            c.executemany(
                "INSERT OR REPLACE INTO embeddings (chunk_id, model, vector) "
                "SELECT id, ?, ? FROM chunks WHERE id = ?",
                [(model, np.asarray(v, dtype=np.float32).tobytes(), int(i)) for i, v in items],
            )

    # ---- lexical terms ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def iter_chunk_texts(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        """(chunk id, heading + text) in id order, for re-deriving lexical terms."""
        rows = self.conn.execute(
            "SELECT id, heading, text FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()
        return [(i, " ".join(json.loads(h)) + "\n" + t) for i, h, t in rows]

    def update_terms(self, items: Sequence[tuple[int, str]]) -> None:
        with self.transaction() as c:
            c.executemany("UPDATE chunks SET terms = ?, length = ? WHERE id = ?",
                          [(t, lexical_length(t), i) for i, t in items])

    def embedding_status(self, model: str, principal: Principal | None = None) -> tuple[int, int]:
        """(chunks, chunks with a vector from `model`) in the store, or among the chunks `principal` may
        read; cached until the next write."""
        with self._lock:
            gen = self.generation()
            cached = self._status.get(model)
            if cached is None or cached[0] != gen:
                q = self.conn.execute
                chunks = q("SELECT COUNT(*) FROM chunks").fetchone()[0]
                done = q("SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0]
                cached = self._status[model] = (gen, chunks, done)
            if principal is None:
                return cached[1], cached[2]
            view = self._lexical_index().view(principal)
            if cached[1] == cached[2]:  # every chunk has a vector, the principal's too
                return view.chunks, view.chunks
            mine = self._status.get((model, view.key))
            if mine is None or mine[0] != gen:
                classes = [acl for acl, _ in view.key]
                done = self.conn.execute(
                    "SELECT COUNT(*) FROM embeddings e JOIN chunks c ON c.id = e.chunk_id WHERE e.model = ? "
                    f"AND c.acl IN ({','.join('?' * len(classes))})", (model, *classes)).fetchone()[0]
                mine = self._status[(model, view.key)] = (gen, view.chunks, done)
        return mine[1], mine[2]

    # ---- housekeeping -------------------------------------------------------------------------------
    def stats(self, model: str | None = None, tenant: str | None = None) -> dict:
        """Counts over the store, or over one tenant's documents (then without the store's size)."""
        only, args = ("", ()) if tenant is None else (" WHERE tenant = ?", (tenant,))
        with self._lock:
            q = self.conn.execute
            out = {
                "tenants": q(f"SELECT COUNT(DISTINCT tenant) FROM documents{only}", args).fetchone()[0],
                "documents": q(f"SELECT COUNT(*) FROM documents{only}", args).fetchone()[0],
                "chunks": q(f"SELECT COUNT(*) FROM chunks{only}", args).fetchone()[0],
                "pages": q(f"SELECT COALESCE(SUM(pages), 0) FROM documents{only}", args).fetchone()[0],
            }
            if model is not None:
                done = q("SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,)) if tenant is None else q(
                    "SELECT COUNT(*) FROM embeddings e JOIN chunks c ON c.id = e.chunk_id "
                    "WHERE e.model = ? AND c.tenant = ?",
                    (model, tenant))
                done = done.fetchone()[0]
                out["embedded"] = done
                out["embeddings_pending"] = out["chunks"] - done
        if tenant is None:
            out["store_bytes"] = sum(
                p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()
            )
        return out

    def check(self) -> list[str]:
        """Consistency problems (empty when the store is sound): integrity, FTS sync, orphans."""
        problems = []
        q = self.conn.execute
        if (r := q("PRAGMA integrity_check").fetchone()[0]) != "ok":
            problems.append(f"integrity_check: {r}")
        try:
            q("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as e:
            problems.append(f"fts: {e}")
        if n := q("SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)").fetchone()[0]:
            problems.append(f"{n} orphan chunks")
        if n := q("SELECT COUNT(*) FROM embeddings WHERE chunk_id NOT IN (SELECT id FROM chunks)").fetchone()[0]:
            problems.append(f"{n} orphan embeddings")
        if n := q("SELECT COUNT(*) FROM documents WHERE id NOT IN (SELECT doc_id FROM doc_groups)").fetchone()[0]:
            problems.append(f"{n} documents without groups")
        return problems

    def close(self) -> None:
        self.conn.close()



def apply_migrations(conn: sqlite3.Connection, migrations: Iterable[tuple[str, str]]) -> None:
    """Apply the (name, SQL script) migrations not yet recorded in the `migrations` table, in order, each
    in one transaction with its record (a crash leaves it either applied and recorded, or neither).
    `conn` must be in autocommit mode (isolation_level=None)."""
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    applied = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    for name, script in migrations:
        if name in applied:
            continue
        t0 = time.perf_counter()
        # executescript commits implicitly; wrap the whole migration in our own transaction instead.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute("INSERT INTO migrations VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))", (name,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            log.error("migration %s of %s failed and was rolled back", name, _db_file(conn))
            raise
        log.info("applied migration %s to %s in %.2f s", name, _db_file(conn), time.perf_counter() - t0)


def _db_file(conn: sqlite3.Connection) -> str:
    """The file of the connection's main database (for log lines)."""
    return next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "") or ":memory:"


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; trigger bodies (BEGIN … END;) stay whole."""
    statements, buf = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            statements.append(joined)
            buf = []
    if "\n".join(buf).strip():
        statements.append("\n".join(buf))
    return statements
