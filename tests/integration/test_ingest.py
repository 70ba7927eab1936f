"""Ingest through the real pipeline: incremental updates, sync, bad input, and crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inhouse.config import Settings
from inhouse.errors import NotFoundError
from inhouse.ingest import embed_pending, ingest
from inhouse.models.embedders import load_embedder
from inhouse.retrieve import search
from inhouse.store import SQLiteStore
from inhouse.types import Principal
from tests.helpers import make_encrypted_pdf, make_pdf

STAFF = Principal("acme", "kim", ("staff",))


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "handbook"
    (d / "sub").mkdir(parents=True)
    (d / "반품.md").write_text("# 반품\n\n반품은 수령 후 14일 이내에 가능합니다.\n", "utf-8")
    (d / "sub" / "remote.txt").write_text("Remote work is allowed three days a week.\n", "utf-8")
    (d / ".hidden.txt").write_text("never ingested", "utf-8")
    return d


def test_incremental_ingest_skips_replaces_and_syncs(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = _folder(tmp_path)
    r1 = ingest(store, settings, [d], "acme", ["staff"])
    assert sorted((f.path, f.status) for f in r1.files) == [("sub/remote.txt", "added"), ("반품.md", "added")]
    r2 = ingest(store, settings, [d], "acme", ["staff"])
    assert {f.status for f in r2.files} == {"unchanged"}
    (d / "반품.md").write_text("# 반품\n\n반품은 수령 후 30일 이내에 가능합니다.\n", "utf-8")
    r3 = ingest(store, settings, [d], "acme", ["staff"])
    assert {(f.path, f.status) for f in r3.files} == {("반품.md", "updated"), ("sub/remote.txt", "unchanged")}
    hits = search(store, STAFF, "반품 기간", settings, mode="lexical").hits
    assert [h.text for h in hits] == ["반품은 수령 후 30일 이내에 가능합니다."]
    r4 = ingest(store, settings, [d], "acme", ["staff", "hr"])
    assert {f.status for f in r4.files} == {"regrouped"}
    (d / "sub" / "remote.txt").unlink()
    r5 = ingest(store, settings, [d], "acme", ["staff", "hr"], sync=True)
    assert ("sub/remote.txt", "removed") in [(f.path, f.status) for f in r5.files]
    assert [x.path for x in store.list_documents("acme")] == ["반품.md"]
    assert store.check() == []


def test_sync_only_touches_its_own_folder_and_tenant(tmp_path: Path, store: SQLiteStore, settings: Settings):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "1.txt").write_text("one", "utf-8")
    (b / "2.txt").write_text("two", "utf-8")
    ingest(store, settings, [a], "acme")
    ingest(store, settings, [b], "acme")
    ingest(store, settings, [a], "other")
    (a / "1.txt").unlink()
    (a / "3.txt").write_text("three", "utf-8")
    ingest(store, settings, [a], "acme", sync=True)
    assert [(d.tenant, d.path) for d in store.list_documents()] == [
        ("acme", "2.txt"), ("acme", "3.txt"), ("other", "1.txt")
    ]


def test_bad_inputs_are_reported_and_nothing_stored_is_lost(tmp_path: Path, store: SQLiteStore, settings: Settings):
    good = tmp_path / "good"
    good.mkdir()
    (good / "ok.md").write_text("# 정책\n\n연회비는 15,000원입니다.\n", "utf-8")
    ingest(store, settings, [good], "acme")
    before = store.stats()

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    make_encrypted_pdf(bad / "encrypted.pdf", "top secret")
    (bad / "zero.txt").write_bytes(b"")
    (bad / "binary.txt").write_bytes(os.urandom(4096) + b"\x00" * 16)
    (bad / "latin1.txt").write_bytes("café \xff\xfe".encode("latin-1") + b"\xc3\x28")
    with (bad / "huge.txt").open("wb") as f:
        f.write(("가나다라마바사 " * 1000 + "\n").encode() * 2600)  # ~50 MB
    (bad / "fine.txt").write_text("이 파일은 정상입니다.", "utf-8")
    make_pdf(bad / "good.pdf", ["A fine PDF page."])

    settings.max_file_mb = 20
    report = ingest(store, settings, [bad], "acme")
    status = {f.path: (f.status, f.error) for f in report.files}
    assert status["fine.txt"][0] == "added" and status["good.pdf"][0] == "added"
    expectations = {
        "corrupt.pdf": "cannot read the PDF",
        "encrypted.pdf": "encrypted",
        "zero.txt": "empty",
        "binary.txt": "binary",
        "latin1.txt": "not valid UTF-8",
        "huge.txt": "over the limit of 20 MB",
    }
    for name, fragment in expectations.items():
        assert status[name][0] == "failed", name
        assert fragment in status[name][1] and name in status[name][1], status[name][1]
    after = store.stats()
    assert after["documents"] == before["documents"] + 2
    assert search(store, Principal("acme", "u"), "연회비", settings, mode="lexical").hits[0].doc_path == "ok.md"
    assert store.check() == []
    with pytest.raises(NotFoundError, match="no such file or folder"):
        ingest(store, settings, [tmp_path / "missing"], "acme")


def test_changed_file_that_became_corrupt_keeps_the_old_version(tmp_path: Path, store: SQLiteStore, settings: Settings):
    f = tmp_path / "a.txt"
    f.write_text("원래 내용입니다.", "utf-8")
    ingest(store, settings, [f], "acme")
    f.write_bytes(b"\x00\x01\x02" * 100)
    report = ingest(store, settings, [f], "acme")
    assert report.files[0].status == "failed"
    assert search(store, Principal("acme", "u"), "원래 내용", settings,
                  mode="lexical").hits[0].text == "원래 내용입니다."


def test_embeddings_resume_and_search_says_when_unfinished(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = _folder(tmp_path)
    ingest(store, settings, [d], "acme", ["staff"])
    embedder = load_embedder("hash")
    assert embed_pending(store, embedder, batch=1, limit=1) == 1
    result = search(store, STAFF, "반품", settings, embedder=embedder)
    assert result.hits and "embeddings unfinished: 1 of 2" in result.warnings[0]
    assert embed_pending(store, embedder) == 1
    assert search(store, STAFF, "반품", settings, embedder=embedder).warnings == []


def test_analyser_change_reindexes_terms(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = _folder(tmp_path)
    ingest(store, settings, [d], "acme")
    store.conn.execute("UPDATE chunks SET terms = 'stale'")
    store.set_meta("terms_version", "old")
    ingest(store, settings, [d], "acme")
    assert search(store, Principal("acme", "u"), "반품", settings, mode="lexical").hits
    assert store.check() == []


CRASH_SCRIPT = """
import sys
from pathlib import Path
from inhouse.config import Settings
from inhouse.ingest import ingest
from inhouse.store import SQLiteStore
store = SQLiteStore(Path(sys.argv[1]))
ingest(store, Settings(embedder="hash"), [Path(sys.argv[2])], "acme",
       progress=lambda phase, done, total: print(done, flush=True))
"""


def test_kill_9_mid_ingest_leaves_a_consistent_store(tmp_path: Path, settings: Settings):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(300):
        (corpus / f"doc{i:03d}.txt").write_text(f"문서 {i}번의 내용입니다. 반품 규정 {i}조.\n\n" * 40, "utf-8")
    db = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(db), str(corpus)], stdout=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    for line in proc.stdout:
        if int(line) >= 20 or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = SQLiteStore(db)
    assert store.check() == []
    partial = store.stats()["documents"]
    assert 0 < partial < 300
    for doc in store.list_documents():  # every stored document is complete
        n = store.conn.execute("SELECT COUNT(*) FROM chunks WHERE doc_id = ?", (doc.id,)).fetchone()[0]
        assert n > 0
    report = ingest(store, settings, [corpus], "acme")
    assert report.count("added") == 300 - partial and report.count("unchanged") == partial
    assert store.stats()["documents"] == 300 and store.check() == []
    store.close()
