"""`inhouse store copy --to postgresql://…`: the embedded store moved with its vectors, verified, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.errors import StoreError
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
    real, calls = postgres_store.replace_document, []

    def dies_on_the_third(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise StoreError("the connection to PostgreSQL was lost")
        return real(*args, **kw)

    monkeypatch.setattr(postgres_store, "replace_document", dies_on_the_third)
    with pytest.raises(StoreError):
        copy_store(source, postgres_store)
    monkeypatch.setattr(postgres_store, "replace_document", real)
    total = len(source.list_documents())
    resumed = copy_store(source, postgres_store)
    assert (resumed.unchanged, resumed.copied) == (2, total - 2)
    text = "연차는 입사 1년 후 15일입니다."
    source.replace_document(Document(path="hr/연차.md", tenant="acme", groups=("hr",), sha256="new", kind="md"),
                            [Chunk(text=text, page=1, heading_path=(), char_start=0, char_end=len(text), ordinal=0)],
                            ["연차 입사 1 년 15 일"])
    with postgres_store.transaction() as c:  # a vector lost on the target side is noticed as well
        c.execute("DELETE FROM embeddings WHERE chunk_id = (SELECT min(id) FROM chunks)")
    third = copy_store(source, postgres_store)
    assert third.copied == 2 and third.unchanged == total - 1


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
