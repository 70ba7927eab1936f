"""PostgreSQL + pgvector (a real server): the same results as the embedded store, shared by several processes,
and failures that name the problem and leave the store consistent."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest

from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.errors import PermissionDenied, StoreError
from inhouse.ingest import embed_pending, ingest
from inhouse.models.embedders import load_embedder
from inhouse.retrieve import search
from inhouse.store import SQLiteStore, open_store
from inhouse.store.postgres import PostgresStore
from inhouse.types import Chunk, Document, Principal
from tests.conftest import EGRESS

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [q for q in (ROOT / "samples" / "questions.txt").read_text("utf-8").splitlines() if q] + [
    "return window for sofas", "연회비 환불", "e-mail", "보증 기간 프레임", "remote work stipend per year"]


def _kb(store, settings: Settings) -> None:
    handbook = ROOT / "samples" / "handbook"
    ingest(store, settings, [handbook / "policies", handbook / "faq", handbook / "catalog"], "acme")
    ingest(store, settings, [handbook / "hr"], "acme", ["hr"])


def test_results_are_the_embedded_stores(tmp_path: Path, postgres_store: PostgresStore, settings: Settings):
    """The sample handbook in both stores, searched by staff and by HR with the real multilingual embedder:
    the same hits in the same order with the same scores, lexical, dense and fused."""
    sqlite = SQLiteStore(tmp_path / "kb.db")
    for s in (sqlite, postgres_store):
        _kb(s, settings)
    embedder = load_embedder("e5-small")
    embed_pending(sqlite, embedder)
    ids = sqlite.chunk_ids(Principal("acme", "u", ("hr",)))
    assert postgres_store.chunk_ids(Principal("acme", "u", ("hr",))) == ids  # same chunks, same ids
    postgres_store.put_embeddings(embedder.name, list(sqlite.get_vectors(embedder.name, ids).items()))
    assert postgres_store.stats(embedder.name) | {"store_bytes": 0} == sqlite.stats(embedder.name) | {"store_bytes": 0}
    for who in (Principal("acme", "kim", ("staff",)), Principal("acme", "lee", ("hr",))):
        for q in QUESTIONS:
            for mode in ("lexical", "dense", "hybrid"):
                want = search(sqlite, who, q, settings, k=8, mode=mode, embedder=embedder).hits
                got = search(postgres_store, who, q, settings, k=8, mode=mode, embedder=embedder).hits
                assert [(h.doc_path, h.text) for h in got] == \
                    [(h.doc_path, h.text) for h in want], (q, mode)
                assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-5), (q, mode)
    assert postgres_store.check() == [] and sqlite.check() == []
    sqlite.close()


def test_lexical_search_reads_the_index_alone(postgres_store: PostgresStore, settings: Settings):
    """The postings' primary key carries each posting's length and term frequency: once vacuumed (as a copy
    does), a lexical search needs no table page."""
    _kb(postgres_store, settings)
    # The test server commits asynchronously (tests/pgserver.py); VACUUM marks a page all-visible only once
    # the commits on it are flushed.
    postgres_store._conn.execute("CHECKPOINT")
    postgres_store.vacuum()
    plans = []
    conn = postgres_store._conn
    execute = conn.execute

    def explained(sql, args=None, **kw):  # noqa: ANN001, ANN202
        if sql.startswith("WITH w "):
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_bitmapscan = off")
            plans.append("\n".join(r[0] for r in execute("EXPLAIN (ANALYZE) " + sql, args).fetchall()))
            conn.execute("RESET enable_seqscan")
            conn.execute("RESET enable_bitmapscan")
        return execute(sql, args, **kw)

    conn.execute = explained
    try:
        assert postgres_store.lexical_search(Principal("acme", "kim", ("staff",)), ["반품", "환불"], 5)
    finally:
        conn.execute = execute
    assert "Index Only Scan using postings_pkey" in plans[0] and "Heap Fetches: 0" in plans[0], plans[0]
    assert postgres_store.check() == []


def test_two_processes_share_one_store(postgres_url: str):
    """Two stores on one database (as two API replicas): writes of both, in parallel, all counted once."""
    a, b = PostgresStore(postgres_url), PostgresStore(postgres_url)

    def write(store: PostgresStore, name: str) -> None:
        for i in range(15):
            terms = [f"shared word {name}{i}", f"replica {name}"]
            chunks = [Chunk(text=t, page=1, heading_path=(), char_start=0, char_end=len(t), ordinal=j)
                      for j, t in enumerate(terms)]
            store.replace_document(Document(path=f"{name}{i}.txt", tenant="t", groups=(name,), sha256="x",
                                            kind="txt"), chunks, terms)

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = Principal("t", "u", ("a", "b"))
    assert len(a.lexical_search(both, ["shared"], 100)) == 30 == len(b.lexical_search(both, ["shared"], 100))
    assert len(b.lexical_search(Principal("t", "u", ("a",)), ["shared"], 100)) == 15
    assert a.stats()["chunks"] == 60 and a.check() == []
    a.close()
    b.close()


def _drop_connections(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'inhouse' "
                      "AND datname = current_database()")


def test_a_lost_connection_is_replaced_and_a_write_cut_midway_is_named(postgres_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch):
    store = PostgresStore(postgres_url)
    one = [Chunk(text="alpha", page=1, heading_path=(), char_start=0, char_end=5, ordinal=0)]
    store.replace_document(Document(path="a.txt", tenant="t", groups=(), sha256="1", kind="txt"), one, ["alpha"])
    p = Principal("t", "u", ())
    _drop_connections(postgres_url)
    assert len(store.lexical_search(p, ["alpha"], 5)) == 1  # read again on a new connection
    _drop_connections(postgres_url)  # found dead when the write begins, before anything is written: replaced
    store.replace_document(Document(path="b.txt", tenant="t", groups=(), sha256="1", kind="txt"), one, ["alpha"])
    beta = [Chunk(text="beta", page=1, heading_path=(), char_start=0, char_end=4, ordinal=0)]
    index = store._index

    def cut_then_index(*args, **kw):
        _drop_connections(postgres_url)  # the server ends the session in the middle of the write
        return index(*args, **kw)

    monkeypatch.setattr(store, "_index", cut_then_index)
    with pytest.raises(StoreError, match="connection to PostgreSQL at postgresql://postgres@127.0.0.1.*reconnects"):
        store.replace_document(Document(path="a.txt", tenant="t", groups=(), sha256="2", kind="txt"), beta, ["beta"])
    monkeypatch.setattr(store, "_index", index)
    assert store.get_document("t", "a.txt").sha256 == "1" and store.check() == []  # nothing half-written
    store.replace_document(Document(path="a.txt", tenant="t", groups=(), sha256="2", kind="txt"), beta, ["beta"])
    assert len(store.lexical_search(p, ["beta"], 5)) == 1 and store.check() == []
    store.close()


def test_an_unreachable_or_forbidden_server_is_a_clear_error(postgres_server: str):
    with pytest.raises(StoreError, match=r"cannot reach PostgreSQL at postgresql://u@127\.0\.0\.1:1/kb.*running"):
        PostgresStore("postgresql://u:secret@127.0.0.1:1/kb", connect_timeout=2)
    try:
        PostgresStore("postgresql://u:secret@127.0.0.1:1/kb", connect_timeout=2)
    except StoreError as e:
        assert "secret" not in str(e)  # the password is never shown
    with EGRESS.capture() as seen, pytest.raises(PermissionDenied, match="egress lock.*egress_allow"):
        PostgresStore("postgresql://u@db.example.com:5432/kb")
    assert [(a.host, a.allowed) for a in seen] == [("db.example.com", False)]


def test_the_command_line_uses_the_configured_database(postgres_url: str, monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setenv("INHOUSE_DATABASE_URL", postgres_url)
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    d = tmp_path / "docs"
    d.mkdir()
    (d / "반품.md").write_text("# 반품\n\n반품은 수령 후 14일 이내에 가능합니다.\n", "utf-8")
    assert main(["ingest", str(d), "--tenant", "acme"]) == 0
    capsys.readouterr()
    assert main(["search", "반품 기간", "--tenant", "acme", "--json"]) == 0
    assert "반품.md" in capsys.readouterr().out
    store = open_store()
    assert isinstance(store, PostgresStore) and store.stats()["documents"] == 1
    store.close()
    assert not (tmp_path / "home" / "inhouse.db").exists()  # nothing went to the embedded store
