"""The embedded store: one SQLite database (WAL) holding documents, chunks, an FTS5 index and vectors.

Permissions are part of every search: each chunk's (tenant, group) access tokens are indexed beside
its terms, so the lexical query matches `terms:(…) AND acl:(…)` inside FTS5, and the dense search
scores only rows whose tenant and groups match (a mask built before ranking). A chunk the principal may
not read is never a candidate, let alone a result.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np

from inhouse.errors import InputError, StoreError
from inhouse.files import private_db
from inhouse.types import Chunk, Document, Principal

PUBLIC_GROUP = "*"  # documents ingested without groups are readable by everyone in their tenant


def _fts_query(terms: Sequence[str]) -> str:
    uniq = list(dict.fromkeys(t for t in terms if t))
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in uniq)


def _groups_of(principal: Principal) -> list[str]:
    return sorted(set(principal.groups) | {PUBLIC_GROUP})


def acl_token(tenant: str, group: str) -> str:
    """The FTS token granting `group` of `tenant` read access: digits only, so no tokenizer or stemmer
    changes it and no query term (restricted to the `terms` column) can meet it."""
    digest = hashlib.blake2b(f"{tenant}\x00{group}".encode(), digest_size=8).digest()
    return "9" + str(int.from_bytes(digest, "big")).zfill(20)


def _acl(tenant: str, groups: Sequence[str]) -> str:
    return " ".join(acl_token(tenant, g) for g in sorted(set(groups) or {PUBLIC_GROUP}))


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

    def search(self, principal: Principal, vector: np.ndarray, limit: int, exact: bool = False) -> list[tuple[int, float]]:
        mask = self.tenant_masks.get(principal.tenant)
        if mask is None or not len(self.ids):
            return []
        allowed = np.zeros(len(self.ids), dtype=bool)
        for g in _groups_of(principal):
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


def _kmeans(x: np.ndarray, k: int, iters: int = 8, sample: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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


class SQLiteStore:
    """`Store` over one SQLite file. Safe to share between threads (one connection, a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        private_db(self.path)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.create_function("acl_token", 2, acl_token, deterministic=True)
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"cannot open the store at {self.path}: {e}. If the file is damaged, restore it from a "
                "backup or move it away and re-ingest."
            ) from e
        self._lock = threading.RLock()
        self._vectors: dict[str, _VectorIndex] = {}
        self._status: dict[str, tuple[int, int, int]] = {}

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
            groups = [g for (g,) in self.conn.execute("SELECT grp FROM doc_groups WHERE doc_id = ? ORDER BY grp", (row[0],))]
            return self._doc(row, groups)

    def list_documents(self, tenant: str | None = None, root: str | None = None,
                       principal: Principal | None = None) -> list[Document]:
        """Documents, optionally of one tenant, one ingest root, or only those `principal` may read."""
        sql = f"SELECT {self._DOC_COLS} FROM documents WHERE 1=1"
        args: list[str] = []
        if principal is not None:
            groups = _groups_of(principal)
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
            acl = _acl(doc.tenant, doc.groups)
            c.executemany(
                "INSERT INTO chunks (doc_id, tenant, ordinal, text, page, heading, char_start, char_end, terms, acl) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (doc_id, doc.tenant, ch.ordinal, ch.text, ch.page, json.dumps(list(ch.heading_path), ensure_ascii=False),
                     ch.char_start, ch.char_end, t, acl)
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
            c.execute("UPDATE chunks SET acl = ? WHERE doc_id = ?", (_acl(tenant, groups), row[0]))

    def delete_document(self, tenant: str, path: str) -> bool:
        with self.transaction() as c:
            cur = c.execute("DELETE FROM documents WHERE tenant = ? AND path = ?", (tenant, path))
            return cur.rowcount > 0

    # ---- search -------------------------------------------------------------------------------------
    # Query terms found in more than this share of chunks are dropped (when rarer ones remain): they
    # barely change BM25 ranks but make FTS5 score most of a large index. Small stores keep every term.
    # Forced onto KorQuAD (1,133 chunks) this costs 0.8 points of lexical Recall@5; at 100k chunks it
    # halves lexical latency (bench/ingest.py).
    COMMON_TERM_SHARE = 0.05
    PRUNE_FROM_CHUNKS = 5000
    MAX_QUERY_TERMS = 24

    def _prune_terms(self, terms: Sequence[str]) -> list[str]:
        uniq = list(dict.fromkeys(t for t in terms if t))
        n_chunks, _ = self.embedding_status("")
        if n_chunks < self.PRUNE_FROM_CHUNKS and len(uniq) <= self.MAX_QUERY_TERMS:
            return uniq
        self.conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')")
        marks = ",".join("?" * len(uniq))
        df = dict(self.conn.execute(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", uniq).fetchall())
        # Terms the index stems differently (English) are not in the vocabulary as written: keep them.
        ranked = sorted(uniq, key=lambda t: df.get(t, 0))
        kept = [t for t in ranked if df.get(t, 0) <= self.COMMON_TERM_SHARE * n_chunks] or ranked[:3]
        return kept[: self.MAX_QUERY_TERMS]

    def lexical_search(self, principal: Principal, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        with self._lock:
            terms = self._prune_terms(terms)
        query = _fts_query(terms)
        if not query:
            return []
        # The acl column has weight 0: it filters, it never scores.
        acl = " OR ".join(acl_token(principal.tenant, g) for g in _groups_of(principal))
        sql = "SELECT rowid, bm25(chunks_fts, 1.0, 0.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?"
        with self._lock:
            rows = self.conn.execute(sql, (f"terms : ({query}) AND acl : ({acl})", limit)).fetchall()
        return [(int(i), -float(s)) for i, s in rows]

    def dense_search(self, principal: Principal, vector: np.ndarray, model: str, limit: int) -> list[tuple[int, float]]:
        with self._lock:
            gen = self.generation()
            index = self._vectors.get(model)
            if index is None or index.generation != gen:
                index = self._vectors[model] = _VectorIndex(self.conn, model, gen)
        return index.search(principal, vector, limit)

    def get_chunks(self, principal: Principal, ids: Sequence[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        groups = _groups_of(principal)
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
    def pending_embeddings(self, model: str, limit: int) -> list[tuple[int, str]]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT c.id, c.heading, c.text FROM chunks c LEFT JOIN embeddings e "
                "ON e.chunk_id = c.id AND e.model = ? WHERE e.chunk_id IS NULL ORDER BY c.id LIMIT ?",
                (model, limit),
            ).fetchall()
        return [(i, _embed_text(json.loads(h), t)) for i, h, t in rows]

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
            c.executemany("UPDATE chunks SET terms = ? WHERE id = ?", [(t, i) for i, t in items])

    def embedding_status(self, model: str) -> tuple[int, int]:
        """(chunks, chunks with a vector from `model`), cached until the next write."""
        with self._lock:
            gen = self.generation()
            cached = self._status.get(model)
            if cached is None or cached[0] != gen:
                q = self.conn.execute
                chunks = q("SELECT COUNT(*) FROM chunks").fetchone()[0]
                done = q("SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0]
                cached = self._status[model] = (gen, chunks, done)
        return cached[1], cached[2]

    # ---- housekeeping -------------------------------------------------------------------------------
    def stats(self, model: str | None = None) -> dict:
        with self._lock:
            q = self.conn.execute
            out = {
                "tenants": q("SELECT COUNT(DISTINCT tenant) FROM documents").fetchone()[0],
                "documents": q("SELECT COUNT(*) FROM documents").fetchone()[0],
                "chunks": q("SELECT COUNT(*) FROM chunks").fetchone()[0],
                "pages": q("SELECT COALESCE(SUM(pages), 0) FROM documents").fetchone()[0],
            }
            if model is not None:
                done = q("SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0]
                out["embedded"] = done
                out["embeddings_pending"] = out["chunks"] - done
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        out["store_bytes"] = size
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


def _embed_text(heading: list[str], text: str) -> str:
    """What gets embedded: the heading path gives a chunk its context."""
    return (" > ".join(heading) + "\n" + text) if heading else text


def apply_migrations(conn: sqlite3.Connection, migrations: Iterable[tuple[str, str]]) -> None:
    """Apply the (name, SQL script) migrations not yet recorded in the `migrations` table, in order, each
    in one transaction with its record (a crash leaves it either applied and recorded, or neither).
    `conn` must be in autocommit mode (isolation_level=None)."""
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    applied = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    for name, script in migrations:
        if name in applied:
            continue
        # executescript commits implicitly; wrap the whole migration in our own transaction instead.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute("INSERT INTO migrations VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))", (name,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


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
