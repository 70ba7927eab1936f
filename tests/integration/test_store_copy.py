"""`inhouse store copy --to postgresql://…`: the embedded store moved with its vectors, verified, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.errors import InputError, StoreError
from inhouse.ingest import embed_pending, ingest
from inhouse.models.embedders import load_embedder
from inhouse.retrieve import search
from inhouse.store import SQLiteStore
from inhouse.store.copy import copy_store
from inhouse.store.postgres import PostgresStore
from inhouse.types import Chunk, Document, Principal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def source(inhouse_home: Path, settings: Settings) -> SQLiteStore:
    store = SQLiteStore(inhouse_home / "inhouse.db")
    handbook = ROOT / "samples" / "handbook"
    ingest(store, settings, [handbook / "policies", handbook / "faq"], "acme")
    ingest(store, settings, [handbook / "hr"], "acme", ["hr"])
    embed_pending(store, load_embedder("hash"))
    yield store
    store.close()


def test_a_copy_searches_as_the_original_and_a_second_copy_changes_nothing(source: SQLiteStore,
                                                                           postgres_store: PostgresStore,
                                                                           settings: Settings):
    report = copy_store(source, postgres_store)
    assert report.copied == report.documents > 5 and report.vectors["hash"] == report.chunks
    assert report.hashes["source"] == report.hashes["target"]
    hr = Principal("acme", "lee", ("hr",))
    embedder = load_embedder("hash")
    for q in ("반품 기간", "경조휴가", "equipment stipend"):
        # The same hits with the same scores (chunk ids, and so the order of ties, differ; the hash embedder
        # scores most chunks 0 for a query, and which of those fill the list is a tie).
        for mode in ("lexical", "dense"):
            a, b = ([(round(h.score, 5), h.doc_path, h.text) for h in search(
                s, hr, q, settings, k=20, mode=mode, embedder=embedder).hits if h.score > 1e-6]
                for s in (source, postgres_store))
            assert sorted(a) == sorted(b) and a
    again = copy_store(source, postgres_store)
    assert again.copied == 0 and again.unchanged == report.documents


def test_an_interrupted_copy_resumes_and_a_changed_document_is_copied_again(source: SQLiteStore,
                                                                            postgres_store: PostgresStore,
                                                                            monkeypatch: pytest.MonkeyPatch):
    real, calls = postgres_store.load_documents, []

    def dies_on_the_third(batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise StoreError("the connection to PostgreSQL was lost")
        return real(batch)

    monkeypatch.setattr(postgres_store, "load_documents", dies_on_the_third)
    with pytest.raises(StoreError):
        copy_store(source, postgres_store, batch_chunks=3)  # batches of a document or two
    monkeypatch.setattr(postgres_store, "load_documents", real)
    total = len(source.list_documents())
    written = sum(calls[:2])
    assert len(postgres_store.list_documents()) == written  # two whole batches, nothing of the third
    # The bulk load into the empty store dropped the postings' key and indexes; the store says so.
    assert any("unfinished bulk loads" in p for p in postgres_store.check())
    assert not postings_constraints(postgres_store)
    resumed = copy_store(source, postgres_store)
    assert (resumed.unchanged, resumed.copied) == (written, total - written)
    assert postings_constraints(postgres_store) == ALL_CONSTRAINTS and postgres_store.check() == []
    text = "연차는 입사 1년 후 15일입니다."
    source.replace_document(Document(path="hr/연차.md", tenant="acme", groups=("hr",), sha256="new", kind="md"),
                            [Chunk(text=text, page=1, heading_path=(), char_start=0, char_end=len(text), ordinal=0)],
                            ["연차 입사 1 년 15 일"])
    with postgres_store.transaction() as c:  # a vector lost on the target side is noticed as well
        c.execute("DELETE FROM embeddings WHERE chunk_id = (SELECT min(id) FROM chunks)")
    third = copy_store(source, postgres_store)
    assert third.copied == 2 and third.unchanged == total - 1


ALL_CONSTRAINTS = {"postings_pkey", "postings_chunk", "postings_chunk_id_fkey"}


def postings_constraints(store: PostgresStore) -> set[str]:
    return set(store._read(lambda c: [r[0] for r in c.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'postings'::regclass AND contype IN ('p', 'f') UNION "
        "SELECT indexname FROM pg_indexes WHERE tablename = 'postings'")]))


def test_a_copy_into_an_empty_store_rebuilds_the_postings_key_and_indexes(source: SQLiteStore,
                                                                         postgres_store: PostgresStore):
    copy_store(source, postgres_store)
    assert postings_constraints(postgres_store) == ALL_CONSTRAINTS and postgres_store.check() == []
    assert postgres_store.begin_bulk() is False  # it holds documents now: nothing is dropped
    assert postings_constraints(postgres_store) == ALL_CONSTRAINTS and postgres_store.end_bulk() is False
    with postgres_store.transaction() as c:  # the foreign key is back: a chunk deleted takes its postings along
        first = c.execute("SELECT min(chunk_id) FROM postings").fetchone()[0]
        c.execute("DELETE FROM chunks WHERE id = %s", (first,))
        assert c.execute("SELECT count(*) FROM postings WHERE chunk_id = %s", (first,)).fetchone()[0] == 0


def test_a_bulk_load_builds_the_vector_index_once_and_refuses_stored_documents(source: SQLiteStore,
                                                                               postgres_store: PostgresStore):
    doc = Document(path="a.txt", tenant="acme", groups=("staff",), sha256="a", kind="txt")
    chunk = Chunk(text="반품은 14일 이내", page=1, heading_path=("정책",), char_start=0, char_end=10, ordinal=0)
    vec = np.ones(8, dtype=np.float32) / np.sqrt(8)
    assert postgres_store.load_documents([(doc, [chunk], ["반품 14 일 이내"], {"m": [vec]})]) == [doc.id]
    # Until the index is built, the store says so; dense search still answers (an exact scan).
    assert any("without their HNSW index" in p for p in postgres_store.check())
    staff = Principal("acme", "kim", ("staff",))
    assert [i for i, _ in postgres_store.dense_search(staff, vec, "m", 5)] == postgres_store.chunk_ids(staff)
    assert postgres_store.build_vector_indexes() == ["m"] and postgres_store.build_vector_indexes() == []
    assert postgres_store.check() == []
    again = Document(path="b.txt", tenant="acme", groups=(), sha256="b", kind="txt")
    with pytest.raises(InputError, match="acme/a.txt is already stored"):
        postgres_store.load_documents([(again, [chunk], ["반품"], {}), (doc, [chunk], ["반품"], {})])
    assert [d.path for d in postgres_store.list_documents()] == ["a.txt"]  # nothing of the refused batch


def test_a_target_holding_other_documents_fails_verification(source: SQLiteStore, postgres_store: PostgresStore):
    postgres_store.replace_document(Document(path="stray.txt", tenant="acme", groups=(), sha256="x", kind="txt"),
                                    [Chunk(text="stray", page=1, heading_path=(), char_start=0, char_end=5,
                                           ordinal=0)], ["stray"])
    with pytest.raises(StoreError, match="does not match.*documents: .* here, .* there"):
        copy_store(source, postgres_store)


def test_the_command(source: SQLiteStore, postgres_url: str, capsys):
    assert main(["store", "copy", "--to", postgres_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["copied"] == report["documents"] and report["hashes"]["source"] == report["hashes"]["target"]
    assert main(["store", "copy", "--to", "postgresql://u@127.0.0.1:1/x"]) == 5
    assert "cannot reach PostgreSQL at postgresql://u@127.0.0.1:1/x" in capsys.readouterr().err


def test_bulk_loaded_fields_keep_backslashes_and_tabs(postgres_store: PostgresStore):
    """COPY's text format is written by hand for the postings: an access class with a backslash or a tab in its
    group name arrives as it was (check() compares each posting's class with its chunk's)."""
    doc = Document(path="odd.txt", tenant="acme", groups=("r&d\\lab", "tab\there"), sha256="o", kind="txt")
    chunk = Chunk(text="연구소 출입 규정", page=1, heading_path=(), char_start=0, char_end=9, ordinal=0)
    postgres_store.load_documents([(doc, [chunk], ["연구소 출입 규정"], {})])
    assert postgres_store.check() == []
    for group in ("r&d\\lab", "tab\there"):
        hits = postgres_store.lexical_search(Principal("acme", "kim", (group,)), ["출입"], 5)
        assert len(hits) == 1
    assert postgres_store.lexical_search(Principal("acme", "kim", ("r&d",)), ["출입"], 5) == []


def test_the_vector_index_is_given_the_memory_its_graph_needs():
    # A million 384-float vectors need about 3 GB to build in one pass (pgvector's default 64 MB would spill
    # to inserting one element at a time); a small store keeps the floor; a huge one stops at the cap.
    assert PostgresStore.index_memory(1_000_000, 384) == "3051MB"
    assert PostgresStore.index_memory(10, 384) == "64MB"
    assert PostgresStore.index_memory(10**9, 1024) == f"{PostgresStore.INDEX_MEMORY_CAP >> 20}MB"
