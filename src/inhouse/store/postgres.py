"""The scale-out store: PostgreSQL with pgvector, shared by any number of InHouse processes.

The same `Store` as the embedded SQLite one, with the same results: chunk terms are read by the same
tokenizer (inhouse.store.lexical), and BM25 is computed over the chunks the principal may read from the
same statistics. Permissions are inside every query: each chunk, posting and vector carries its access
class (`acl`: one token per tenant and group that reads it); a lexical search reads only the postings of
the principal's classes (an index range on (token, acl)), a dense search ranks only vectors of those classes
(pgvector HNSW with iterative scan, so a filter that removes most rows still fills the result).

Writes take one advisory lock (as SQLite's one writer): statistics stay exact and writers never deadlock;
readers are never blocked. Connection losses surface as StoreError naming the server; the next call
reconnects (a read is retried once on a fresh connection).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from importlib import resources
from typing import Any, TypeVar

import numpy as np

from inhouse.errors import InHouseError, InputError, StoreError
from inhouse.store.lexical import (
    PUBLIC_GROUP,
    Tokenizer,
    acl_of,
    bm25_idf,
    embed_text,
    groups_of,
    lexical_length,
    phrase_counts,
    prune,
    readable_classes,
)
from inhouse.types import Chunk, Document, Principal

log = logging.getLogger(__name__)

T = TypeVar("T")
_WRITE_LOCK = 0x1A0_4055  # pg_advisory_xact_lock key every writer takes


def _psycopg():
    try:
        import pgvector.psycopg
        import psycopg
    except ImportError as e:
        raise StoreError("a PostgreSQL store needs psycopg and pgvector: pip install 'inhouse[postgres]'.") from e
    return psycopg, pgvector.psycopg


def describe(url: str) -> str:
    """The server and database of a URL, without its password (for messages and status)."""
    psycopg, _ = _psycopg()
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as e:
        raise InputError(f"the database URL is not valid ({e}); write postgresql://user@host:5432/dbname.") from e
    host = info.get("host") or info.get("hostaddr") or "localhost"
    return f"postgresql://{info.get('user', '') + '@' if info.get('user') else ''}{host}:{info.get('port', 5432)}" \
           f"/{info.get('dbname', '')}"


def _reach(url: str, timeout: float) -> None:
    """Open (and close) a TCP connection to each server of the URL from Python first: libpq connects in C,
    past the egress lock's socket guard, so this is where a host the lock does not allow is refused
    (EgressBlocked); an unreachable server is named here too."""
    psycopg, _ = _psycopg()
    info = psycopg.conninfo.conninfo_to_dict(url)
    hosts = [h for h in str(info.get("hostaddr") or info.get("host") or "").split(",") if h]
    ports = str(info.get("port") or "5432").split(",")
    failed = []
    for i, host in enumerate(hosts):
        if host.startswith("/"):  # a Unix socket directory is local
            return
        try:
            socket.create_connection((host, int(ports[min(i, len(ports) - 1)])), timeout=timeout).close()
            return
        except InHouseError:  # the egress lock's refusal
            raise
        except OSError as e:
            failed.append(f"{host}: {e.strerror or e}")
    if failed:
        raise StoreError(f"cannot reach PostgreSQL at {describe(url)} ({'; '.join(failed)}). Is the server "
                         "running, and is INHOUSE_DATABASE_URL right?")


def connect(url: str, timeout: float = 10, retry_s: float = 0.0):
    """An autocommit psycopg connection to `url`, egress-checked first; a clear StoreError if it fails. With
    `retry_s`, a server that refuses or is starting up is tried again for that long (a restart, a failover)."""
    psycopg, _ = _psycopg()
    deadline = time.monotonic() + retry_s
    while True:
        try:
            _reach(url, timeout)
            return psycopg.connect(url, autocommit=True, connect_timeout=int(max(1, timeout)),
                                   application_name="inhouse")
        except (StoreError, psycopg.OperationalError) as e:
            if time.monotonic() >= deadline:
                if isinstance(e, StoreError):
                    raise
                raise StoreError(f"cannot reach PostgreSQL at {describe(url)}: {str(e).strip().splitlines()[-1]}. "
                                 "Is the server running, and is INHOUSE_DATABASE_URL right?") from e
            time.sleep(0.2)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_text(value: str) -> str:
    """`value` as a field of COPY's text format (backslash, tab and line breaks escaped)."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _index_name(model: str) -> str:
    """The name of `model`'s partial HNSW index (a model name may hold any character)."""
    return "embeddings_hnsw_" + hashlib.blake2b(model.encode(), digest_size=6).hexdigest()


def has_table(url: str, schema: str, table: str) -> bool:
    """Whether `schema` in the database at `url` holds `table` (a tenant's schema made by its first write)."""
    with connect(url) as conn:
        return bool(conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                                 "AND table_name = %s", (schema, table)).fetchall())


def migrate(conn, migrations: Sequence[tuple[str, str]], table: str = "migrations", lock: str | None = None) -> None:
    """Apply the numbered (name, SQL) migrations not yet recorded in `table`, each in its own transaction with
    its record; one process at a time (an advisory lock named `lock`, default the table), so replicas starting
    together apply each once."""
    psycopg, _ = _psycopg()
    key = int.from_bytes(hashlib.blake2b((lock or table).encode(), digest_size=4).digest(), "big")
    name = psycopg.sql.Identifier(table)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        conn.execute(psycopg.sql.SQL("CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, "
                                     "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())").format(name))
        applied = {r[0] for r in conn.execute(psycopg.sql.SQL("SELECT name FROM {}").format(name))}
        for step, script in migrations:
            if step in applied:
                continue
            t0 = time.perf_counter()
            with conn.transaction():
                conn.execute(script)
                conn.execute(psycopg.sql.SQL("INSERT INTO {} (name) VALUES (%s)").format(name), (step,))
            log.info("applied migration %s (%s) in %.2f s", step, table, time.perf_counter() - t0)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _migrations() -> list[tuple[str, str]]:
    files = resources.files("inhouse.store").joinpath("pg_migrations").iterdir()
    return sorted((f.name, f.read_text("utf-8")) for f in files if f.name.endswith(".sql"))


class PostgresStore:
    """`Store` over one PostgreSQL database (pgvector installed). Safe to share between threads."""

    # The embedded store's rules, so both rank alike (see SQLiteStore).
    COMMON_TERM_SHARE = 0.05
    PRUNE_FROM_CHUNKS = 5000
    MAX_QUERY_TERMS = 24
    BM25_K1 = 1.2
    BM25_B = 0.75
    # HNSW candidates per search (pgvector's hnsw.ef_search); filtered searches scan on until `limit` rows pass.
    EF_SEARCH = 100
    RECONNECT_S = 5.0

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        self.url = url
        self.location = describe(url)
        self.connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connected = False
        self._tokenizer = Tokenizer()
        self._dims: dict[str, int] = {}
        self._status: dict[Any, tuple[int, int, int]] = {}
        with self._lock:
            self._connection()

    # ---- connection ---------------------------------------------------------------------------------
    def _connection(self):
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        psycopg, pgvector = _psycopg()
        # A connection lost after it worked is sought again for a few seconds (a restart takes about one).
        conn = connect(self.url, self.connect_timeout, retry_s=self.RECONNECT_S if self._connected else 0.0)
        self._connected = True
        try:
            migrate(conn, _migrations())
            pgvector.register_vector(conn)
            conn.execute("SET hnsw.iterative_scan = relaxed_order")
            conn.execute(f"SET hnsw.ef_search = {int(self.EF_SEARCH)}")
        except psycopg.Error as e:
            conn.close()
            raise StoreError(f"the PostgreSQL store at {self.location} cannot be prepared: {e}".rstrip()
                             + (" (the pgvector extension must be installed on the server; an administrator "
                                "can run CREATE EXTENSION vector in this database)" if "vector" in str(e) else "")
                             ) from e
        self._conn = conn
        return conn

    def _lost(self, e: Exception) -> StoreError:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - the connection is gone either way
                pass
        self._conn = None
        return StoreError(f"the connection to PostgreSQL at {self.location} failed: "
                          f"{str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}; "
                          "the next request reconnects.")

    def _read(self, fn: Callable[[Any], T]) -> T:
        """fn(connection), retried once on a new connection if the old one was lost."""
        psycopg, _ = _psycopg()
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return fn(conn)
                except psycopg.OperationalError as e:
                    err = self._lost(e)
                    if attempt == 2:
                        raise err from e
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One write transaction under the writers' lock; bumps the store generation; rolled back on error."""
        psycopg, _ = _psycopg()
        with self._lock:
            conn, begun = self._begin()
            try:
                with begun:
                    yield conn
                    conn.execute("UPDATE generation SET value = value + 1 WHERE id = 1")
            except psycopg.OperationalError as e:
                raise self._lost(e) from e
            except psycopg.Error as e:
                # Whatever failed, a connection left in a transaction or a COPY is not used again.
                if conn.broken or conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    raise self._lost(e) from e
                raise

    def _begin(self) -> tuple[Any, ExitStack]:
        """A connection with a write transaction begun and the writers' lock held. A connection found dead here,
        before anything was written, is replaced once (a server restart costs no write)."""
        psycopg, _ = _psycopg()
        for attempt in (1, 2):
            conn = self._connection()
            begun = ExitStack()
            try:
                begun.enter_context(conn.transaction())
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                return conn, begun
            except psycopg.OperationalError as e:
                with suppress(Exception):
                    begun.close()
                err = self._lost(e)
                if attempt == 2:
                    raise err from e
        raise AssertionError("unreachable")

    def generation(self) -> int:
        return self._read(lambda c: c.execute("SELECT value FROM generation WHERE id = 1").fetchone()[0])

    # ---- documents ----------------------------------------------------------------------------------
    _DOC_COLS = ("d.id, d.tenant, d.path, d.root, d.kind, d.sha256, d.size, d.pages, d.title, "
                 "ARRAY(SELECT grp FROM doc_groups g WHERE g.doc_id = d.id ORDER BY grp)")

    @staticmethod
    def _doc(row) -> Document:
        id_, tenant, path, root, kind, sha, size, pages, title, groups = row
        return Document(path=path, tenant=tenant, groups=tuple(groups), sha256=sha, kind=kind, pages=pages,
                        id=id_, title=title, root=root, size=size)

    def get_document(self, tenant: str, path: str) -> Document | None:
        row = self._read(lambda c: c.execute(
            f"SELECT {self._DOC_COLS} FROM documents d WHERE tenant = %s AND path = %s", (tenant, path)).fetchone())
        return None if row is None else self._doc(row)

    def list_documents(self, tenant: str | None = None, root: str | None = None,
                       principal: Principal | None = None) -> list[Document]:
        sql, args = f"SELECT {self._DOC_COLS} FROM documents d WHERE true", []
        if principal is not None:
            sql += " AND d.tenant = %s AND d.id IN (SELECT doc_id FROM doc_groups WHERE grp = ANY(%s))"
            args += [principal.tenant, groups_of(principal)]
        if tenant is not None:
            sql += " AND d.tenant = %s"
            args.append(tenant)
        if root is not None:
            sql += " AND d.root = %s"
            args.append(root)
        rows = self._read(lambda c: c.execute(sql + " ORDER BY d.tenant, d.path", args).fetchall())
        return [self._doc(r) for r in rows]

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], terms: Sequence[str],
                         vectors: dict[str, Sequence[np.ndarray | None]] | None = None) -> int:
        """`Store.replace_document`; `vectors` (for copies): each model's vector of each chunk (None: none),
        written in the same transaction."""
        if len(chunks) != len(terms) or any(len(v) != len(chunks) for v in (vectors or {}).values()):
            raise InputError("replace_document: one terms string (and one vector per model) is needed per chunk.")
        acl = acl_of(doc.tenant, doc.groups)
        with self.transaction() as c:
            old = c.execute("SELECT id FROM documents WHERE tenant = %s AND path = %s",
                            (doc.tenant, doc.path)).fetchone()
            kept: dict[tuple[str, str], list[tuple[str, Any]]] = {}
            if old is not None:
                # Vectors of chunks whose text survives the change are kept (only new text is embedded again).
                for heading, text, model, vector in c.execute(
                        "SELECT c.heading, c.text, e.model, e.vector FROM chunks c JOIN embeddings e "
                        "ON e.chunk_id = c.id WHERE c.doc_id = %s", (old[0],)):
                    kept.setdefault((heading, text), []).append((model, vector))
                self._forget(c, "doc_id = %s", (old[0],))
                c.execute("DELETE FROM documents WHERE id = %s", (old[0],))
            doc_id = c.execute(
                "INSERT INTO documents (tenant, path, root, kind, sha256, size, pages, title) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (doc.tenant, doc.path, doc.root, doc.kind, doc.sha256, doc.size, doc.pages, doc.title),
            ).fetchone()[0]
            c.cursor().executemany("INSERT INTO doc_groups (doc_id, grp) VALUES (%s, %s)",
                                   [(doc_id, g) for g in sorted(set(doc.groups) or {PUBLIC_GROUP})])
            rows = [(doc_id, doc.tenant, ch.ordinal, ch.text, ch.page,
                     json.dumps(list(ch.heading_path), ensure_ascii=False), ch.char_start, ch.char_end, t, acl,
                     lexical_length(t)) for ch, t in zip(chunks, terms, strict=True)]
            ids = self._insert_chunks(c, rows)
            self._index(c, list(zip(ids, [acl] * len(ids), terms, [r[10] for r in rows], strict=True)))
            if kept:
                c.cursor().executemany(
                    "INSERT INTO embeddings (model, chunk_id, acl, vector) VALUES (%s, %s, %s, %s)",
                    [(model, cid, acl, vec) for cid, r in zip(ids, rows, strict=True)
                     for model, vec in kept.get((r[5], r[3]), [])])
            for model, vecs in (vectors or {}).items():
                self._put(c, model, [(i, v) for i, v in zip(ids, vecs, strict=True) if v is not None])
        doc.id = doc_id
        return doc_id

    def load_documents(self, items: Sequence[tuple[Document, Sequence[Chunk], Sequence[str],
                                                 dict[str, Sequence[np.ndarray | None]]]]) -> list[int]:
        """Write documents the store does not hold yet, with their chunks, terms and vectors, in one transaction
        of COPYs (ids drawn from the sequences first), for bulk copies: far faster than `replace_document` one
        at a time. The HNSW index of a model first seen here is not built row by row: `build_vector_indexes()`
        builds it once the vectors are in (until then dense searches scan exactly). Raises InputError when one
        of the documents is already stored."""
        items = [(doc, list(chunks), list(terms), vectors) for doc, chunks, terms, vectors in items]
        for _, chunks, terms, vectors in items:
            if len(chunks) != len(terms) or any(len(v) != len(chunks) for v in vectors.values()):
                raise InputError("load_documents: one terms string (and one vector per model) is needed per chunk.")
        if not items:
            return []
        with self.transaction() as c:
            there = c.execute("SELECT tenant, path FROM documents d JOIN unnest(%s::text[], %s::text[]) u(t, p) "
                              "ON d.tenant = u.t AND d.path = u.p LIMIT 1",
                              ([d.tenant for d, *_ in items], [d.path for d, *_ in items])).fetchone()
            if there is not None:
                raise InputError(f"load_documents: {there[0]}/{there[1]} is already stored; replace_document "
                                 "rewrites a stored document.")
            doc_ids = self._reserve(c, "documents_id_seq", len(items))
            n_chunks = sum(len(ch) for _, ch, _, _ in items)
            chunk_ids = iter(self._reserve(c, "chunks_id_seq", n_chunks))
            lexical, vectors_by_model = [], {}
            with c.cursor().copy("COPY documents (id, tenant, path, root, kind, sha256, size, pages, title) "
                                 "FROM STDIN") as copy:
                for doc_id, (doc, *_) in zip(doc_ids, items, strict=True):
                    copy.write_row((doc_id, doc.tenant, doc.path, doc.root, doc.kind, doc.sha256, doc.size,
                                    doc.pages, doc.title))
            with c.cursor().copy("COPY doc_groups (doc_id, grp) FROM STDIN") as copy:
                for doc_id, (doc, *_) in zip(doc_ids, items, strict=True):
                    for g in sorted(set(doc.groups) or {PUBLIC_GROUP}):
                        copy.write_row((doc_id, g))
            with c.cursor().copy("COPY chunks (id, doc_id, tenant, ordinal, text, page, heading, char_start, "
                                 "char_end, terms, acl, length) FROM STDIN") as copy:
                for doc_id, (doc, chunks, terms, vectors) in zip(doc_ids, items, strict=True):
                    acl = acl_of(doc.tenant, doc.groups)
                    for n, (ch, t) in enumerate(zip(chunks, terms, strict=True)):
                        cid, length = next(chunk_ids), lexical_length(t)
                        copy.write_row((cid, doc_id, doc.tenant, ch.ordinal, ch.text, ch.page,
                                        json.dumps(list(ch.heading_path), ensure_ascii=False), ch.char_start,
                                        ch.char_end, t, acl, length))
                        lexical.append((cid, acl, t, length))
                        for model, vecs in vectors.items():
                            if vecs[n] is not None:
                                vectors_by_model.setdefault(model, []).append((cid, acl, vecs[n]))
            self._index(c, lexical)
            for model, rows in vectors_by_model.items():
                self._copy_vectors(c, model, rows)
        for doc, doc_id in zip((d for d, *_ in items), doc_ids, strict=True):
            doc.id = doc_id
        return doc_ids

    # The postings' key, chunk index and foreign key, dropped while an empty store is bulk-loaded: maintained
    # row by row they cost 15 times the rows' own writing; built once after, about twice.
    _BULK_FLAG = "bulk_load_unfinished"
    _POSTINGS_CONSTRAINTS = (
        "ALTER TABLE postings ADD CONSTRAINT postings_pkey PRIMARY KEY (token, acl, chunk_id) INCLUDE (length, tf)",
        "CREATE INDEX postings_chunk ON postings (chunk_id)",
        "ALTER TABLE postings ADD CONSTRAINT postings_chunk_id_fkey FOREIGN KEY (chunk_id) REFERENCES chunks(id) "
        "ON DELETE CASCADE",
    )

    def begin_bulk(self) -> bool:
        """If the store holds no document: drop the postings' key, index and foreign key for a bulk load, and
        note it (`check()` reports it until `end_bulk()`). False, and nothing changed, when documents exist."""
        with self.transaction() as c:
            if c.execute("SELECT EXISTS (SELECT 1 FROM documents)").fetchone()[0]:
                return False
            if c.execute("SELECT 1 FROM meta WHERE key = %s", (self._BULK_FLAG,)).fetchone() is None:
                c.execute("ALTER TABLE postings DROP CONSTRAINT postings_chunk_id_fkey")
                c.execute("ALTER TABLE postings DROP CONSTRAINT postings_pkey")
                c.execute("DROP INDEX postings_chunk")
                c.execute("INSERT INTO meta (key, value) VALUES (%s, '1')", (self._BULK_FLAG,))
        return True

    def end_bulk(self, maintenance_mem: str = "1GB") -> bool:
        """Build what `begin_bulk()` dropped (the key checked, the foreign key validated); False if nothing was
        dropped. Safe to call after a bulk load that was killed: its batches were whole."""
        psycopg, _ = _psycopg()
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM meta WHERE key = %s", (self._BULK_FLAG,)).fetchone() is None:
                return False
            c.execute(psycopg.sql.SQL("SET LOCAL maintenance_work_mem = {}").format(
                psycopg.sql.Literal(maintenance_mem)))
            for statement in self._POSTINGS_CONSTRAINTS:
                c.execute(statement)
            c.execute("DELETE FROM meta WHERE key = %s", (self._BULK_FLAG,))
        return True

    @staticmethod
    def _reserve(c, sequence: str, n: int) -> list[int]:
        """n ids of `sequence`, drawn now (so rows can be COPYed with them)."""
        return [r[0] for r in c.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, n))]

    def _model_for(self, c, model: str, vectors: Iterable[np.ndarray], index_now: bool) -> None:
        """Check that `vectors` have one length, the one `model` stores; a model seen for the first time is
        registered, its HNSW index made now (`index_now`) or left to `build_vector_indexes`."""
        dims = {len(v) for v in vectors}
        if len(dims) != 1:
            raise InputError(f"vectors of {model} differ in length ({sorted(dims)}).")
        dim = dims.pop()
        known = self._dim(c, model)
        if known is None:
            index = _index_name(model)
            c.execute("INSERT INTO vector_models (model, dim, index_name) VALUES (%s, %s, %s)", (model, dim, index))
            if index_now:
                c.execute(self._hnsw(index, dim, model))
            self._dims.pop(model, None)  # known once committed
        elif known != dim:
            raise InputError(f"{model} stores {known}-dimensional vectors; these have {dim}. Embed with the "
                             "same model, or under another model name.")

    def _copy_vectors(self, c, model: str, rows: list[tuple[int, str, np.ndarray]]) -> None:
        self._model_for(c, model, (v for _, _, v in rows), index_now=False)
        with c.cursor().copy("COPY embeddings (model, chunk_id, acl, vector) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "int8", "text", "vector"])
            for cid, acl, v in rows:
                copy.write_row((model, cid, acl, np.asarray(v, dtype=np.float32)))

    # pgvector builds an HNSW graph in maintenance_work_mem and, once it no longer fits, goes on inserting into
    # the on-disk index one element at a time (many times slower). An element of the graph holds its vector and
    # about 2·m neighbours (m = 16) with their distances: a little over dim·4 + 1 KB.
    INDEX_MEMORY_CAP = 8 << 30

    @classmethod
    def index_memory(cls, rows: int, dim: int) -> str:
        """maintenance_work_mem for building an HNSW index over `rows` vectors of `dim` floats: the graph with
        a quarter to spare, at least 64 MB, at most INDEX_MEMORY_CAP (the server's memory is not known here)."""
        need = int(rows * (dim * 4 + 1024) * 1.25)
        return f"{max(64, min(need, cls.INDEX_MEMORY_CAP) >> 20)}MB"

    def build_vector_indexes(self) -> list[str]:
        """Build each vector model's HNSW index that is missing (after `load_documents`); the models built.
        Each is given the memory its graph needs (`index_memory`), so it is built in memory in one pass."""
        psycopg, _ = _psycopg()
        built = []
        with self.transaction() as c:
            missing = c.execute("SELECT model, dim, index_name FROM vector_models v WHERE NOT EXISTS (SELECT 1 FROM "
                                "pg_indexes i WHERE i.indexname = v.index_name) ORDER BY model").fetchall()
            for model, dim, index in missing:
                rows = c.execute("SELECT count(*) FROM embeddings WHERE model = %s", (model,)).fetchone()[0]
                c.execute(psycopg.sql.SQL("SET LOCAL maintenance_work_mem = {}").format(
                    psycopg.sql.Literal(self.index_memory(rows, dim))))
                c.execute(self._hnsw(index, dim, model))
                built.append(model)
        return built

    @staticmethod
    def _hnsw(index: str, dim: int, model: str):  # noqa: ANN205 - a psycopg SQL statement
        sql = _psycopg()[0].sql
        return sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON embeddings USING hnsw ((vector::vector({d})) "
                       "vector_ip_ops) WHERE model = {m}").format(i=sql.Identifier(index), d=sql.Literal(dim),
                                                                  m=sql.Literal(model))

    @staticmethod
    def _insert_chunks(c, rows: list[tuple]) -> list[int]:
        if not rows:
            return []
        cur = c.cursor()
        cur.executemany(
            "INSERT INTO chunks (doc_id, tenant, ordinal, text, page, heading, char_start, char_end, terms, acl, "
            "length) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id", rows, returning=True)
        ids = []
        while True:
            ids.append(cur.fetchone()[0])
            if not cur.nextset():
                break
        return ids

    def _index(self, c, items: list[tuple[int, str, str, int]]) -> None:
        """Postings of (chunk id, acl, terms, length) chunks, and their statistics counted in."""
        if not items:
            return
        found = self._tokenizer.positions([t for _, _, t, _ in items])
        # COPY's text format written directly (psycopg's per-value dumping took most of a bulk load), in the
        # primary key's order, so the index grows page by page rather than at random places.
        rows = sorted((token, acl, cid, length, positions) for (cid, acl, _, length), tokens in
                      zip(items, found, strict=True) for token, positions in tokens.items())
        with c.cursor().copy("COPY postings (token, acl, chunk_id, length, tf, positions) FROM STDIN") as copy:
            for start in range(0, len(rows), 20000):
                copy.write("".join(
                    f"{_copy_text(token)}\t{_copy_text(acl)}\t{cid}\t{length}\t{len(positions)}\t"
                    f"{{{','.join(map(str, positions))}}}\n"
                    for token, acl, cid, length, positions in rows[start:start + 20000]))
        # The statistics counted from the rows in hand (a scan of what was just written took a fifth of a load).
        df = Counter((token, acl) for token, acl, *_ in rows)
        classes: dict[str, list[int]] = {}
        for _, acl, _, length in items:
            n = classes.setdefault(acl, [0, 0])
            n[0], n[1] = n[0] + 1, n[1] + length
        keys = sorted(df)
        c.execute("INSERT INTO token_df (token, acl, df) SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
                  "ON CONFLICT (token, acl) DO UPDATE SET df = token_df.df + EXCLUDED.df",
                  ([t for t, _ in keys], [a for _, a in keys], [df[k] for k in keys]))
        c.cursor().executemany(
            "INSERT INTO acl_stats (acl, chunks, length) VALUES (%s, %s, %s) ON CONFLICT (acl) DO UPDATE "
            "SET chunks = acl_stats.chunks + EXCLUDED.chunks, length = acl_stats.length + EXCLUDED.length",
            [(acl, n, length) for acl, (n, length) in sorted(classes.items())])

    @staticmethod
    def _count(c, ids: list[int], sign: int) -> None:
        """Add (sign +1) or take away (−1) these chunks' share of the statistics, from their postings and rows."""
        if not ids:
            return
        rows = c.execute("SELECT token, acl, count(*) FROM postings WHERE chunk_id = ANY(%s) "
                         "GROUP BY token, acl ORDER BY token, acl", (ids,)).fetchall()
        if rows:
            tokens, acls, counts = (list(x) for x in zip(*rows, strict=True))
            c.execute("INSERT INTO token_df (token, acl, df) SELECT * FROM unnest(%s::text[], %s::text[], "
                      "%s::bigint[]) ON CONFLICT (token, acl) DO UPDATE SET df = token_df.df + EXCLUDED.df",
                      (tokens, acls, [sign * n for n in counts]))
            if sign < 0:
                c.execute("DELETE FROM token_df t USING unnest(%s::text[], %s::text[]) u(token, acl) "
                          "WHERE t.token = u.token AND t.acl = u.acl AND t.df <= 0", (tokens, acls))
        for acl, n, length in c.execute("SELECT acl, count(*), sum(length) FROM chunks WHERE id = ANY(%s) "
                                        "GROUP BY acl ORDER BY acl", (ids,)).fetchall():
            c.execute("INSERT INTO acl_stats (acl, chunks, length) VALUES (%s, %s, %s) ON CONFLICT (acl) DO UPDATE "
                      "SET chunks = acl_stats.chunks + EXCLUDED.chunks, length = acl_stats.length + EXCLUDED.length",
                      (acl, sign * n, sign * int(length)))
        if sign < 0:
            c.execute("DELETE FROM acl_stats WHERE chunks <= 0")

    def _forget(self, c, where: str, args: tuple) -> list[int]:
        """Take the statistics of the chunks matching `where` away (before they are deleted or changed)."""
        ids = [r[0] for r in c.execute(f"SELECT id FROM chunks WHERE {where}", args)]
        self._count(c, ids, -1)
        return ids

    def set_groups(self, tenant: str, path: str, groups: Sequence[str]) -> None:
        acl = acl_of(tenant, groups)
        with self.transaction() as c:
            row = c.execute("SELECT id FROM documents WHERE tenant = %s AND path = %s", (tenant, path)).fetchone()
            if row is None:
                return
            c.execute("DELETE FROM doc_groups WHERE doc_id = %s", (row[0],))
            c.cursor().executemany("INSERT INTO doc_groups (doc_id, grp) VALUES (%s, %s)",
                                   [(row[0], g) for g in sorted(set(groups) or {PUBLIC_GROUP})])
            ids = self._forget(c, "doc_id = %s", (row[0],))
            c.execute("UPDATE chunks SET acl = %s WHERE id = ANY(%s)", (acl, ids))
            c.execute("UPDATE postings SET acl = %s WHERE chunk_id = ANY(%s)", (acl, ids))
            c.execute("UPDATE embeddings SET acl = %s WHERE chunk_id = ANY(%s)", (acl, ids))
            self._count(c, ids, +1)

    def delete_document(self, tenant: str, path: str) -> bool:
        with self.transaction() as c:
            row = c.execute("SELECT id FROM documents WHERE tenant = %s AND path = %s", (tenant, path)).fetchone()
            if row is None:
                return False
            self._forget(c, "doc_id = %s", (row[0],))
            c.execute("DELETE FROM documents WHERE id = %s", (row[0],))
            return True

    # ---- search -------------------------------------------------------------------------------------
    def _classes(self, c, principal: Principal) -> tuple[list[str], int, int]:
        """The access classes `principal` reads, with their chunks and tokens in all."""
        rows = c.execute("SELECT acl, chunks, length FROM acl_stats ORDER BY acl").fetchall()
        mine = [r for r, ok in zip(rows, readable_classes(principal, [r[0] for r in rows]), strict=True) if ok]
        return [r[0] for r in mine], sum(r[1] for r in mine), sum(r[2] for r in mine)

    def lexical_search(self, principal: Principal, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        uniq = list(dict.fromkeys(t for t in terms if t))
        if not uniq or limit < 1:
            return []
        tokens = dict(zip(uniq, self._tokenizer.tokens(uniq), strict=True))

        def search(c) -> list[tuple[int, float]]:
            acls, n_chunks, length = self._classes(c, principal)
            if not n_chunks:
                return []
            phrases = {t: self._phrase(c, tokens[t], acls) for t in uniq if len(tokens[t]) > 1}
            singles = sorted({tokens[t][0] for t in uniq if len(tokens[t]) == 1})
            df_of = dict(c.execute("SELECT token, sum(df)::bigint FROM token_df WHERE token = ANY(%s) "
                                   "AND acl = ANY(%s) GROUP BY token", (singles, acls)).fetchall()) if singles else {}
            df = {t: len(phrases[t][0]) if t in phrases else df_of.get(tokens[t][0], 0) if tokens[t] else 0
                  for t in uniq}
            if n_chunks < self.PRUNE_FROM_CHUNKS and len(uniq) <= self.MAX_QUERY_TERMS:
                kept = uniq
            else:
                kept = prune(uniq, df, n_chunks, self.COMMON_TERM_SHARE, self.MAX_QUERY_TERMS)
            # Scored where the postings are (bm25_top's sums, in SQL): only the best `limit` rows come back.
            avgdl = length / n_chunks if length else 1.0
            k1, b = self.BM25_K1, self.BM25_B
            words, idfs, extra_ids, extra_scores = [], [], [], []
            for t in kept:
                if not df[t]:
                    continue
                idf = bm25_idf(n_chunks, df[t])
                if t in phrases:
                    ids, tf, dl = phrases[t]
                    extra_ids += ids.tolist()
                    extra_scores += (idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))).tolist()
                else:
                    words.append(tokens[t][0])
                    idfs.append(idf)
            if not words and not extra_ids:
                return []
            rows = c.execute(
                "WITH w (token, idf) AS (SELECT * FROM unnest(%s::text[], %s::float8[])), "
                "s (id, score) AS (SELECT p.chunk_id, w.idf * p.tf * %s::float8 / "
                "(p.tf + %s::float8 * (1 - %s::float8 + %s::float8 * p.length / %s::float8)) "
                "FROM w JOIN postings p ON p.token = w.token AND p.acl = ANY(%s) "
                "UNION ALL SELECT * FROM unnest(%s::bigint[], %s::float8[])) "
                "SELECT id, sum(score) FROM s GROUP BY id ORDER BY round(sum(score)::numeric, 9) DESC, id LIMIT %s",
                (words, idfs, k1 + 1, k1, b, b, avgdl, acls, extra_ids, extra_scores, limit)).fetchall()
            return [(int(i), float(v)) for i, v in rows]

        return self._read(search)

    @staticmethod
    def _phrase(c, tokens: tuple[str, ...], acls: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chunk ids, occurrences, lengths) of a phrase of several tokens among the principal's chunks."""
        where: dict[str, dict[int, list[int]]] = {t: {} for t in tokens}
        lengths: dict[int, int] = {}
        for token, cid, positions, dl in c.execute(
                "SELECT token, chunk_id, positions, length FROM postings WHERE token = ANY(%s) AND acl = ANY(%s)",
                (list(set(tokens)), acls)):
            where[token][cid] = positions
            lengths[cid] = dl
        counts = sorted(phrase_counts([where[t] for t in tokens]).items())
        ids = np.array([i for i, _ in counts], dtype=np.int64)
        return ids, np.array([n for _, n in counts], dtype=np.float64), np.array([lengths[i] for i in ids.tolist()],
                                                                                 dtype=np.float64)

    def _dim(self, c, model: str) -> int | None:
        if model not in self._dims:
            row = c.execute("SELECT dim FROM vector_models WHERE model = %s", (model,)).fetchone()
            if row is None:
                return None
            self._dims[model] = row[0]
        return self._dims[model]

    def dense_search(self, principal: Principal, vector: np.ndarray, model: str, limit: int) -> list[tuple[int, float]]:
        psycopg, _ = _psycopg()
        sql = psycopg.sql

        def search(c) -> list[tuple[int, float]]:
            dim = self._dim(c, model)
            acls, n_chunks, _ = self._classes(c, principal)
            if dim is None or not n_chunks or limit < 1:
                return []
            if len(vector) != dim:
                raise InputError(f"the query vector has {len(vector)} dimensions; {model}'s stored vectors have "
                                 f"{dim}.")
            # The model is a literal, so the planner matches its partial HNSW index.
            order = sql.SQL("vector::vector({d}) <#> %s::vector({d})").format(d=sql.Literal(dim))
            rows = c.execute(sql.SQL("SELECT chunk_id, {o} FROM embeddings WHERE model = {m} AND acl = ANY(%s) "
                                     "ORDER BY {o} LIMIT %s").format(o=order, m=sql.Literal(model)),
                             (np.asarray(vector, dtype=np.float32), acls, np.asarray(vector, dtype=np.float32),
                              limit)).fetchall()
            return sorted(((int(i), -float(d)) for i, d in rows), key=lambda r: (-r[1], r[0]))

        return self._read(search)

    def chunk_ids(self, principal: Principal) -> list[int]:
        return self._read(lambda c: [r[0] for r in c.execute(
            "SELECT id FROM chunks WHERE tenant = %s AND doc_id IN (SELECT doc_id FROM doc_groups WHERE grp = ANY(%s)) "
            "ORDER BY id", (principal.tenant, groups_of(principal)))])

    def get_chunks(self, principal: Principal, ids: Sequence[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        rows = self._read(lambda c: c.execute(
            "SELECT c.id, c.text, c.page, c.heading, c.char_start, c.char_end, c.ordinal, d.path "
            "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ANY(%s) AND c.tenant = %s "
            "AND c.doc_id IN (SELECT doc_id FROM doc_groups WHERE grp = ANY(%s))",
            ([int(i) for i in ids], principal.tenant, groups_of(principal))).fetchall())
        return {r[0]: Chunk(text=r[1], page=r[2], heading_path=tuple(json.loads(r[3])), char_start=r[4],
                            char_end=r[5], ordinal=r[6], id=r[0], doc_path=r[7]) for r in rows}

    # ---- embeddings ---------------------------------------------------------------------------------
    def pending_embeddings(self, model: str, limit: int, tenant: str | None = None) -> list[tuple[int, str]]:
        only = "" if tenant is None else " AND c.tenant = %s"
        rows = self._read(lambda c: c.execute(
            "SELECT c.id, c.heading, c.text FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
            f"WHERE e.model = %s AND e.chunk_id = c.id){only} ORDER BY c.id LIMIT %s",
            (model, *([] if tenant is None else [tenant]), limit)).fetchall())
        return [(i, embed_text(json.loads(h), t)) for i, h, t in rows]

    def get_vectors(self, model: str, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        rows = self._read(lambda c: c.execute(
            "SELECT chunk_id, vector FROM embeddings WHERE model = %s AND chunk_id = ANY(%s)",
            (model, [int(i) for i in ids])).fetchall())
        return {i: np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32) for i, v in rows}

    def put_embeddings(self, model: str, items: Sequence[tuple[int, np.ndarray]]) -> None:
        if items:
            with self.transaction() as c:
                self._put(c, model, items)

    def _put(self, c, model: str, items: Sequence[tuple[int, np.ndarray]]) -> None:
        if not items:
            return
        self._model_for(c, model, (v for _, v in items), index_now=True)
        # A chunk deleted since it was read is skipped by the join (no orphan vectors).
        c.cursor().executemany(
            "INSERT INTO embeddings (model, chunk_id, acl, vector) SELECT %s, id, acl, %s FROM chunks "
            "WHERE id = %s ON CONFLICT (model, chunk_id) DO UPDATE SET vector = EXCLUDED.vector",
            [(model, np.asarray(v, dtype=np.float32), int(i)) for i, v in items])

    # ---- lexical terms ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone())
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                      "SET value = EXCLUDED.value", (key, value))

    def iter_chunk_texts(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        rows = self._read(lambda c: c.execute(
            "SELECT id, heading, text FROM chunks WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit)).fetchall())
        return [(i, " ".join(json.loads(h)) + "\n" + t) for i, h, t in rows]

    def update_terms(self, items: Sequence[tuple[int, str]]) -> None:
        if not items:
            return
        with self.transaction() as c:
            ids = self._forget(c, "id = ANY(%s)", ([int(i) for i, _ in items],))
            c.execute("DELETE FROM postings WHERE chunk_id = ANY(%s)", (ids,))
            live = set(ids)
            rows = [(int(i), t, lexical_length(t)) for i, t in items if int(i) in live]
            c.cursor().executemany("UPDATE chunks SET terms = %s, length = %s WHERE id = %s",
                                   [(t, n, i) for i, t, n in rows])
            acl = dict(c.execute("SELECT id, acl FROM chunks WHERE id = ANY(%s)", (ids,)).fetchall())
            self._index(c, [(i, acl[i], t, n) for i, t, n in rows])

    def embedding_status(self, model: str, principal: Principal | None = None) -> tuple[int, int]:
        def count(c) -> tuple[int, int]:
            gen = c.execute("SELECT value FROM generation WHERE id = 1").fetchone()[0]
            key = (model, None if principal is None else (principal.tenant, tuple(groups_of(principal))))
            cached = self._status.get(key)
            if cached is None or cached[0] != gen:
                if principal is None:
                    chunks = c.execute("SELECT COALESCE(sum(chunks), 0) FROM acl_stats").fetchone()[0]
                    done = c.execute("SELECT count(*) FROM embeddings WHERE model = %s", (model,)).fetchone()[0]
                else:
                    acls, chunks, _ = self._classes(c, principal)
                    done = c.execute("SELECT count(*) FROM embeddings WHERE model = %s AND acl = ANY(%s)",
                                     (model, acls)).fetchone()[0]
                if len(self._status) > 1000:
                    self._status.clear()
                cached = self._status[key] = (gen, int(chunks), int(done))
            return cached[1], cached[2]

        return self._read(count)

    # ---- housekeeping -------------------------------------------------------------------------------
    def vacuum(self) -> None:
        """VACUUM (ANALYZE) the searched tables: after a bulk load, lexical searches become index-only scans
        (the visibility map is set) and the planner knows the sizes. Autovacuum does the same, later."""
        def run(c) -> None:
            for table in ("postings", "token_df", "acl_stats", "chunks", "embeddings"):
                c.execute(f"VACUUM (ANALYZE) {table}")

        self._read(run)

    def stats(self, model: str | None = None, tenant: str | None = None) -> dict:
        only, args = ("", ()) if tenant is None else (" WHERE tenant = %s", (tenant,))

        def count(c) -> dict:
            q = c.execute
            out = {
                "tenants": q(f"SELECT count(DISTINCT tenant) FROM documents{only}", args).fetchone()[0],
                "documents": q(f"SELECT count(*) FROM documents{only}", args).fetchone()[0],
                "chunks": q(f"SELECT count(*) FROM chunks{only}", args).fetchone()[0],
                "pages": int(q(f"SELECT COALESCE(sum(pages), 0) FROM documents{only}", args).fetchone()[0]),
            }
            if model is not None:
                done = q("SELECT count(*) FROM embeddings WHERE model = %s", (model,)) if tenant is None else q(
                    "SELECT count(*) FROM embeddings e JOIN chunks c ON c.id = e.chunk_id WHERE e.model = %s "
                    "AND c.tenant = %s", (model, tenant))
                out["embedded"] = done.fetchone()[0]
                out["embeddings_pending"] = out["chunks"] - out["embedded"]
            if tenant is None:
                out["store_bytes"] = q("SELECT pg_database_size(current_database())").fetchone()[0]
            return out

        return self._read(count)

    def check(self) -> list[str]:
        """Consistency problems (empty when the store is sound): statistics against what they count, access
        classes copied onto postings and vectors, documents without groups."""
        checks = {
            "token counts differ from the postings": (
                "SELECT count(*) FROM (SELECT token, acl, count(*) AS n FROM postings GROUP BY token, acl) p "
                "FULL JOIN token_df t USING (token, acl) WHERE p.n IS DISTINCT FROM t.df"),
            "access-class totals differ from the chunks": (
                "SELECT count(*) FROM (SELECT acl, count(*) AS n, sum(length) AS l FROM chunks GROUP BY acl) c "
                "FULL JOIN acl_stats s USING (acl) "
                "WHERE c.n IS DISTINCT FROM s.chunks OR c.l IS DISTINCT FROM s.length"),
            "postings whose term frequency is not their count of positions": (
                "SELECT count(*) FROM postings WHERE tf <> cardinality(positions)"),
            "postings with another access class than their chunk": (
                "SELECT count(*) FROM postings p JOIN chunks c ON c.id = p.chunk_id WHERE p.acl <> c.acl"),
            "vectors with another access class than their chunk": (
                "SELECT count(*) FROM embeddings e JOIN chunks c ON c.id = e.chunk_id WHERE e.acl <> c.acl"),
            "chunks without postings": (
                "SELECT count(*) FROM chunks c WHERE c.length > 0 AND NOT EXISTS "
                "(SELECT 1 FROM postings p WHERE p.chunk_id = c.id)"),
            "documents without groups": (
                "SELECT count(*) FROM documents WHERE id NOT IN (SELECT doc_id FROM doc_groups)"),
            "unfinished bulk loads, postings without their key and indexes (`inhouse store copy` again)": (
                f"SELECT count(*) FROM meta WHERE key = '{self._BULK_FLAG}'"),
            "vector models without their HNSW index (build_vector_indexes, or `inhouse store copy` again)": (
                "SELECT count(*) FROM vector_models v WHERE NOT EXISTS (SELECT 1 FROM pg_indexes i "
                "WHERE i.indexname = v.index_name)"),
        }

        def run(c) -> list[str]:
            return [f"{n} {what}" for what, sql in checks.items() if (n := c.execute(sql).fetchone()[0])]

        return self._read(run)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
