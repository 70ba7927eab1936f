"""The `inhouse` command in-process: JSON shapes that scripts rely on, and errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inhouse.cli.main import main


@pytest.fixture(autouse=True)
def fast_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    d = tmp_path / "handbook"
    (d / "policies").mkdir(parents=True)
    (d / "policies" / "반품.md").write_text("# 반품 정책\n\n## 반품 기간\n\n반품은 수령 후 14일 이내에 가능합니다.\n",
                                          "utf-8")
    (d / "remote.txt").write_text("The equipment stipend is 500,000 won per year.\n", "utf-8")
    (d / "catalog.csv").write_text("sku,name,price\nA1,오슬로 소파,890000\n", "utf-8")
    return d


def test_ingest_search_docs_status_json(capsys, handbook: Path):
    code, out, _ = run(capsys, "ingest", str(handbook), "--tenant", "acme", "--groups", "staff,hr", "--json")
    report = json.loads(out)
    assert code == 0 and report["summary"]["added"] == 3 and report["embeddings_pending"] == 0
    code, out, _ = run(capsys, "search", "반품 기간", "--tenant", "acme", "--user", "kim", "--groups", "staff",
                       "--k", "2", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and len(hits) == 2
    assert set(hits[0]) == {"chunk_id", "doc_path", "page", "score", "text", "snippet"}
    assert hits[0]["doc_path"] == "policies/반품.md" and "**반품**" in hits[0]["snippet"]
    assert hits[0]["score"] >= hits[1]["score"]

    code, out, _ = run(capsys, "docs", "list", "--tenant", "acme", "--json")
    assert sorted(d["path"] for d in json.loads(out)["documents"]) == ["catalog.csv", "policies/반품.md", "remote.txt"]
    code, out, _ = run(capsys, "status", "--json")
    stats = json.loads(out)
    assert stats["documents"] == 3 and stats["embeddings_pending"] == 0 and stats["store_bytes"] > 0
    code, out, _ = run(capsys, "docs", "rm", "remote.txt", "--json")
    assert code == 0 and json.loads(out) == {"removed": {"tenant": "acme", "path": "remote.txt"}}
    code, _, err = run(capsys, "docs", "rm", "remote.txt")
    assert code == 3 and "no document 'remote.txt'" in err


def test_search_batch_prints_json_lines(capsys, handbook: Path, tmp_path: Path):
    run(capsys, "ingest", str(handbook), "--tenant", "acme")
    questions = tmp_path / "q.txt"
    questions.write_text("반품 기간\n\nequipment stipend\n", "utf-8")
    code, out, _ = run(capsys, "search", "--batch", str(questions), "--tenant", "acme", "--json", "--k", "1")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [x["query"] for x in lines] == ["반품 기간", "equipment stipend"]
    assert [x["hits"][0]["doc_path"] for x in lines] == ["policies/반품.md", "remote.txt"]


def test_ingest_no_embed_then_embed(capsys, handbook: Path):
    code, out, _ = run(capsys, "ingest", str(handbook), "--tenant", "acme", "--no-embed", "--json")
    assert json.loads(out)["embeddings_pending"] == 3
    code, out, err = run(capsys, "search", "소파", "--tenant", "acme")
    assert "embeddings unfinished" in err and "catalog.csv" in out
    code, out, _ = run(capsys, "embed", "--json")
    assert json.loads(out) == {"embedded": 3, "embeddings_pending": 0}


def test_sync_and_failed_file_exit_code(capsys, handbook: Path):
    run(capsys, "ingest", str(handbook), "--tenant", "acme")
    (handbook / "remote.txt").unlink()
    (handbook / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    code, out, err = run(capsys, "ingest", str(handbook), "--tenant", "acme", "--sync")
    assert code == 1 and "cannot read the PDF" in err and "removed" in out


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["ingest", "/definitely/missing", "--tenant", "a"], 3, "no such file or folder"),
        (["search", "x"], 2, "Missing option '--tenant'"),
        (["search", "--tenant", "a"], 2, "give either a QUERY or --batch FILE"),
        (["search", "   ", "--tenant", "a"], 2, "the query is empty"),
        (["ingest", ".", "--tenant", "a,b"], 2, "invalid tenant"),
    ],
)
def test_errors_are_one_line_without_traceback(capsys, args, code, message):
    got, out, err = run(capsys, *args)
    assert got == code and message in err and "Traceback" not in err


def test_console_script_runs_and_reports_errors_cleanly(tmp_path: Path):
    exe = Path(sys.executable).with_name("inhouse")
    proc = subprocess.run([str(exe), "search", "반품", "--tenant", "acme", "--k", "0"], capture_output=True, text=True,
                          env={"INHOUSE_HOME": str(tmp_path / "h"), "INHOUSE_EMBEDDER": "hash",
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and proc.stderr.strip() == "error: k must be at least 1."
    assert proc.stdout == ""


def test_bad_config_is_named(capsys, inhouse_home: Path):
    inhouse_home.mkdir(parents=True)
    (inhouse_home / "config.toml").write_text("chunk_chars = 500\nchunk_size = 3\n", "utf-8")
    code, _, err = run(capsys, "status")
    assert code == 2 and "unknown setting 'chunk_size'" in err
