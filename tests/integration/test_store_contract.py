"""The contract every `Store` must pass: the embedded SQLite store and PostgreSQL + pgvector (a real server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inhouse.errors import InputError
from inhouse.protocols import Store
from inhouse.store import SQLiteStore
from inhouse.store.postgres import PostgresStore
from inhouse.types import Chunk, Document, Principal


def _sqlite(request, tmp_path: Path) -> Store:
    return SQLiteStore(tmp_path / "contract.db")


def _postgres(request, tmp_path: Path) -> Store:
    return PostgresStore(request.getfixturevalue("postgres_url"))


BACKENDS = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path: Path):
    s = BACKENDS[request.param](request, tmp_path)
    yield s
    s.close()


def _doc(path: str, tenant: str = "t1", groups=("g1",), sha: str = "x") -> Document:
    return Document(path=path, tenant=tenant, groups=tuple(groups), sha256=sha, kind="txt")


def _chunks(*texts: str) -> list[Chunk]:
    return [Chunk(text=t, page=1, heading_path=("H",), char_start=0, char_end=len(t), ordinal=i)
            for i, t in enumerate(texts)]


def test_is_a_store(backend):
    assert isinstance(backend, Store)


def test_replace_document_is_atomic_and_replaces(backend):
    backend.replace_document(_doc("a.txt"), _chunks("alpha one", "alpha two"), ["alpha one", "alpha two"])
    backend.replace_document(_doc("a.txt", sha="y"), _chunks("beta"), ["beta"])
    p = Principal("t1", "u", ("g1",))
    assert backend.lexical_search(p, ["alpha"], 10) == []
    assert len(backend.lexical_search(p, ["beta"], 10)) == 1
    assert backend.get_document("t1", "a.txt").sha256 == "y"
    assert backend.stats()["chunks"] == 1
    with pytest.raises(InputError):
        backend.replace_document(_doc("a.txt", sha="z"), _chunks("gamma", "delta"), ["gamma"])  # mismatched terms
    assert backend.get_document("t1", "a.txt").sha256 == "y"  # unchanged after the failed write
    assert backend.check() == []


def test_lexical_and_dense_filter_by_tenant_and_group(backend):
    backend.replace_document(_doc("open.txt", groups=()), _chunks("shared fact"), ["shared fact"])
    backend.replace_document(_doc("g1.txt", groups=("g1",)), _chunks("secret fact"), ["secret fact"])
    backend.replace_document(_doc("g2.txt", groups=("g2",)), _chunks("secret fact"), ["secret fact"])
    backend.replace_document(_doc("other.txt", tenant="t2", groups=()), _chunks("secret fact"), ["secret fact"])
    v = np.ones(4, dtype=np.float32) / 2
    backend.put_embeddings("m", [(i, v) for i, _ in backend.pending_embeddings("m", 100)])
    for groups, expected in [((), {"open.txt"}), (("g1",), {"open.txt", "g1.txt"}),
                             (("g1", "g2"), {"open.txt", "g1.txt", "g2.txt"})]:
        p = Principal("t1", "u", groups)
        lex = backend.get_chunks(p, [i for i, _ in backend.lexical_search(p, ["fact"], 10)])
        dense = backend.get_chunks(p, [i for i, _ in backend.dense_search(p, v, "m", 10)])
        assert {c.doc_path for c in lex.values()} == expected
        assert {c.doc_path for c in dense.values()} == expected
    # get_chunks itself refuses chunks outside the principal's reach
    all_ids = [i for i, _ in backend.lexical_search(Principal("t1", "u", ("g1", "g2")), ["fact"], 10)]
    assert {c.doc_path for c in backend.get_chunks(Principal("t1", "u", ()), all_ids).values()} == {"open.txt"}
    assert backend.get_chunks(Principal("t3", "u", ("g1",)), all_ids) == {}


def test_embeddings_are_incremental(backend):
    backend.replace_document(_doc("a.txt"), _chunks("one", "two", "three"), ["one", "two", "three"])
    pending = backend.pending_embeddings("m", 2)
    assert len(pending) == 2 and pending[0][1].startswith("H\n")
    backend.put_embeddings("m", [(i, np.ones(3, dtype=np.float32)) for i, _ in pending])
    assert backend.stats("m")["embeddings_pending"] == 1
    assert backend.stats("other")["embeddings_pending"] == 3
    backend.replace_document(_doc("a.txt", sha="2"), _chunks("four"), ["four"])
    assert backend.stats("m") | {"store_bytes": 0} == backend.stats("m") | {
        "store_bytes": 0, "chunks": 1, "embedded": 0, "embeddings_pending": 1}
    assert backend.check() == []


def test_groups_update_and_delete(backend):
    backend.replace_document(_doc("a.txt", groups=("g1",)), _chunks("fact"), ["fact"])
    backend.set_groups("t1", "a.txt", ["g2"])
    assert backend.lexical_search(Principal("t1", "u", ("g1",)), ["fact"], 10) == []
    assert len(backend.lexical_search(Principal("t1", "u", ("g2",)), ["fact"], 10)) == 1
    assert backend.delete_document("t1", "a.txt") is True
    assert backend.delete_document("t1", "a.txt") is False
    assert backend.stats()["chunks"] == 0 and backend.check() == []


def test_list_documents_by_tenant_and_root(backend):
    d = _doc("a.txt")
    d.root = "/r1"
    backend.replace_document(d, _chunks("x"), ["x"])
    backend.replace_document(_doc("b.txt", tenant="t2"), _chunks("y"), ["y"])
    assert [x.path for x in backend.list_documents()] == ["a.txt", "b.txt"]
    assert [x.path for x in backend.list_documents(tenant="t2")] == ["b.txt"]
    assert [x.path for x in backend.list_documents(root="/r1")] == ["a.txt"]
    assert backend.list_documents(tenant="t1")[0].groups == ("g1",)


def test_query_syntax_is_escaped(backend):
    backend.replace_document(_doc("a.txt"), _chunks('say "hi" AND OR NOT'), ['say "hi" and or not'])
    p = Principal("t1", "u", ("g1",))
    for terms in (['"hi"'], ["AND"], ["NEAR("], ["*"], ["-"], ["a:b"]):
        backend.lexical_search(p, terms, 5)  # must not raise a syntax error


def test_unchanged_chunks_keep_their_vectors_when_a_document_changes(backend):
    backend.replace_document(_doc("a.txt"), _chunks("same text", "old text"), ["same text", "old text"])
    backend.put_embeddings("m", [(i, np.full(3, float(i), dtype=np.float32))
                                 for i, _ in backend.pending_embeddings("m", 10)])
    backend.replace_document(_doc("a.txt", sha="2"), _chunks("same text", "new text"), ["same text", "new text"])
    pending = backend.pending_embeddings("m", 10)
    assert [t for _, t in pending] == ["H\nnew text"]
    assert backend.stats("m")["embedded"] == 1 and backend.check() == []


def test_sqlite_drops_very_common_query_terms_on_large_stores(tmp_path: Path):
    store = SQLiteStore(tmp_path / "prune.db")
    store.PRUNE_FROM_CHUNKS = 1  # behave as a large store
    store.COMMON_TERM_SHARE = 0.2
    for i in range(10):
        store.replace_document(_doc(f"{i}.txt"), _chunks(f"common words {i}"), [f"common words n{i}"])
    store.replace_document(_doc("rare.txt"), _chunks("common rare"), ["common rare"])
    p = Principal("t1", "u", ("g1",))
    hits = store.get_chunks(p, [i for i, _ in store.lexical_search(p, ["common", "rare"], 10)])
    assert [c.doc_path for c in hits.values()] == ["rare.txt"]
    assert len(store.lexical_search(p, ["common"], 20)) == 11  # a query of only common terms still works
    store.close()


def test_chunk_ids_are_those_the_principal_may_read(backend):
    backend.replace_document(_doc("a.txt", groups=("g1",)), _chunks("one", "two"), ["one", "two"])
    backend.replace_document(_doc("b.txt", groups=("g2",)), _chunks("three"), ["three"])
    backend.replace_document(_doc("c.txt", tenant="t2", groups=("g1",)), _chunks("four"), ["four"])
    g1 = backend.chunk_ids(Principal("t1", "u", ("g1",)))
    both = backend.chunk_ids(Principal("t1", "u", ("g1", "g2")))
    assert len(g1) == 2 and len(both) == 3 and both == sorted(both) and set(g1) < set(both)
    assert set(backend.get_chunks(Principal("t1", "u", ("g1",)), both)) == set(g1)
    assert backend.chunk_ids(Principal("t3", "u", ("g1",))) == []


def test_stored_vectors_are_read_back(backend):
    backend.replace_document(_doc("a.txt"), _chunks("one", "two"), ["one", "two"])
    ids = [i for i, _ in backend.pending_embeddings("m", 10)]
    v = np.arange(4, dtype=np.float32) / 4
    backend.put_embeddings("m", [(ids[0], v)])
    got = backend.get_vectors("m", ids)
    assert list(got) == [ids[0]] and np.array_equal(got[ids[0]], v)
    assert backend.get_vectors("other", ids) == {} and backend.get_vectors("m", []) == {}


def test_has_store_says_whether_a_knowledge_base_exists_without_making_one(tmp_path: Path):
    from inhouse.store import has_store, open_store

    assert not has_store(tmp_path, url="") and not (tmp_path / "inhouse.db").exists()
    open_store(tmp_path, url="").close()
    assert has_store(tmp_path, url="") and has_store(tmp_path / "elsewhere", url="postgresql://db/kb")
