"""Operator logs: `--log-level` (or INHOUSE_LOG_LEVEL, or the `log_level` setting) sends the `inhouse`
logger's records to stderr, stdout keeps only the command's output, and no log line carries an API key,
a question or a piece of personal data from a document."""

from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inhouse.answer import answer_question
from inhouse.cli.logs import StderrHandler
from inhouse.cli.main import main
from inhouse.config import Settings
from inhouse.guard import egress
from inhouse.models.chat import ScriptedChat
from inhouse.models.embedders import HashEmbedder
from inhouse.server.app import create_app
from inhouse.server.db import ServerDB
from inhouse.server.keys import KeyStore
from inhouse.store import SQLiteStore
from inhouse.types import Principal

SRC = Path(__file__).resolve().parents[2] / "src" / "inhouse"
PHONE, EMAIL = "010-3141-5926", "minsu.kim@example.com"


@pytest.fixture(autouse=True)
def fresh_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from the library's state (NullHandler, no level) and leaves it that way."""
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    monkeypatch.delenv("INHOUSE_LOG_LEVEL", raising=False)
    logger = logging.getLogger("inhouse")
    yield
    for h in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(h)
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "crm.md").write_text(f"# 고객 메모\n\n김민수 고객의 연락처는 {PHONE}, 이메일은 {EMAIL} 입니다.\n", "utf-8")
    (d / "remote.txt").write_text("The equipment stipend is 500,000 won per year.\n", "utf-8")
    (d / "logo.png").write_bytes(b"\x89PNG\r\n")
    return d


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def records(err: str) -> list[tuple[str, str]]:
    """(level, logger) of each log line on stderr: `date time LEVEL logger: message`."""
    found = []
    for line in err.splitlines():
        parts = line.split(" ", 4)
        if len(parts) == 5 and parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR") and parts[3].endswith(":"):
            found.append((parts[2], parts[3].rstrip(":")))
    return found


def test_debug_logs_go_to_stderr_and_json_stays_clean(capsys, docs: Path):
    code, out, err = run(capsys, "--log-level", "debug", "ingest", str(docs), "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out)["summary"]["added"] == 2  # stdout is the report alone
    seen = records(err)
    loggers = {name for _, name in seen}
    assert {"inhouse.ingest.pipeline", "inhouse.store.sqlite"} <= loggers  # (embedders are loaded once a process)
    assert {"DEBUG", "INFO"} <= {level for level, _ in seen}
    assert "added crm.md (tenant acme)" in err and "skipped logo.png: unsupported file type" in err
    assert "applied migration 001_initial.sql" in err

    code, out, err = run(capsys, "--log-level", "DEBUG", "search", "연락처", "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out)["hits"]
    assert ("DEBUG", "inhouse.retrieve") in records(err) and "연락처" not in err  # timings, never the query


def test_warning_is_quiet_at_info_and_is_the_default(capsys, docs: Path):
    code, out, err = run(capsys, "--log-level", "warning", "ingest", str(docs), "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out) and records(err) == []
    (docs / "remote.txt").write_text("changed\n", "utf-8")
    code, out, err = run(capsys, "ingest", str(docs), "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out)["summary"]["updated"] == 1 and records(err) == []


def test_a_failed_file_is_a_warning(capsys, docs: Path):
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    code, _, err = run(capsys, "--log-level", "warning", "ingest", str(docs), "--tenant", "acme")
    assert code == 1 and ("WARNING", "inhouse.ingest.pipeline") in records(err)
    assert "failed broken.pdf (tenant acme): broken.pdf: cannot read the PDF" in err


def test_env_and_setting_give_the_level_and_the_flag_wins(capsys, docs: Path, inhouse_home: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    inhouse_home.mkdir(parents=True)
    (inhouse_home / "config.toml").write_text('log_level = "info"\n', "utf-8")
    _, _, err = run(capsys, "status", "--json")
    assert ("INFO", "inhouse.store.sqlite") in records(err)  # the setting: migrations of a new store
    _, _, err = run(capsys, "--log-level", "error", "ingest", str(docs), "--tenant", "acme")
    assert records(err) == []
    monkeypatch.setenv("INHOUSE_LOG_LEVEL", "info")
    (docs / "remote.txt").write_text("changed\n", "utf-8")
    _, _, err = run(capsys, "ingest", str(docs), "--tenant", "acme")
    assert "updated remote.txt (tenant acme)" in err


def test_a_bad_level_is_a_clear_error(capsys, inhouse_home: Path, monkeypatch: pytest.MonkeyPatch):
    code, out, err = run(capsys, "--log-level", "verbose", "status")
    assert code == 2 and out == "" and "Invalid value for '--log-level'" in err and "'verbose' is not one of" in err
    monkeypatch.setenv("INHOUSE_LOG_LEVEL", "loud")
    code, _, err = run(capsys, "status")
    assert code == 2 and "INHOUSE_LOG_LEVEL" in err and "'loud' is not one of" in err
    monkeypatch.delenv("INHOUSE_LOG_LEVEL")
    inhouse_home.mkdir(parents=True)
    (inhouse_home / "config.toml").write_text('log_level = "chatty"\n', "utf-8")
    code, _, err = run(capsys, "status")
    assert code == 2 and err.strip() == ("error: setting log_level='chatty' is not a valid level; use one of: "
                                         "debug, info, warning, error.")


def test_no_pii_or_question_in_debug_logs(capsys, docs: Path, caplog: pytest.LogCaptureFixture, store: SQLiteStore):
    """Ingest, search and the answer pipeline at debug: the phone number and the e-mail address of the
    document, and the question, appear in no log line (nor their digits run together)."""
    code, out, err = run(capsys, "--log-level", "debug", "ingest", str(docs), "--tenant", "acme", "--json")
    assert code == 0 and json.loads(out)["summary"]["added"] == 2
    code, out, err2 = run(capsys, "--log-level", "debug", "search", f"{EMAIL} 연락처", "--tenant", "acme", "--json")
    assert code == 0
    logs = err + err2
    # The answer pipeline in this process: its verdicts' reasons name the numbers a claim has and its source
    # lacks ("numbers not in source: …"); the logs keep the rule and drop the numbers.
    caplog.set_level(logging.DEBUG, logger="inhouse")
    model = ScriptedChat().enqueue(f"김민수 고객의 연락처는 010-2718-2818 입니다 [1]. 이메일은 {EMAIL} 입니다 [1].")
    a = answer_question(store, Principal("acme", "kim", ("pii",)), f"김민수 고객의 연락처와 {EMAIL} 는?",
                        Settings(embedder="hash"), model)
    assert any("numbers not in source" in c.reason for c in a.claims)  # the case the logs must mask
    assert "verified the draft" in caplog.text and "numbers not in source" in caplog.text
    logs += caplog.text
    for secret in (PHONE, PHONE.replace("-", ""), "2718-2818", "27182818", EMAIL, "minsu.kim", "연락처와"):
        assert secret not in logs


def test_auth_failures_are_warnings_without_the_key(inhouse_home: Path, caplog: pytest.LogCaptureFixture, capsys):
    code, out, err = run(capsys, "--log-level", "debug", "keys", "create", "--tenant", "acme", "--user", "kim",
                         "--json")
    key, key_id = json.loads(out)["key"], json.loads(out)["id"]
    assert code == 0 and f"created API key {key_id} for kim@acme" in err and key not in err
    secret = key.split("_", 2)[2]
    caplog.set_level(logging.DEBUG, logger="inhouse")
    app = create_app(chat=ScriptedChat(), embedder=HashEmbedder(), base=inhouse_home)
    with TestClient(app) as client:
        assert client.get("/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        wrong = key[:-4] + "AAAA"
        assert client.get("/api/me", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        assert client.post("/api/search", json={"query": "x"}).status_code == 401
        assert client.post("/api/documents", headers={"Authorization": f"Bearer {key}"},
                           files={"file": ("a.txt", b"hello")}).status_code == 403
    KeyStore(ServerDB(inhouse_home / "server.db")).revoke(key_id)
    with TestClient(app) as client:
        assert client.get("/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"authentication failed: wrong secret for key {key_id}",
                        "authentication failed: no API key given",
                        f"forbidden: key {key_id} (kim@acme, role reader) asked for an admin route",
                        f"authentication failed: key {key_id} (kim@acme) is revoked"]
    assert "server started" in caplog.text
    assert secret not in caplog.text and secret[:12] not in caplog.text


def test_serve_gives_uvicorn_the_level_and_keeps_stdout_for_json(capsys, monkeypatch: pytest.MonkeyPatch):
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    code, out, _ = run(capsys, "--log-level", "info", "serve", "--port", "8123", "--json")
    assert code == 0 and json.loads(out)["url"] == "http://127.0.0.1:8123"
    assert seen["log_level"] == "info"
    config = seen["log_config"]
    assert {config["loggers"][n]["level"] for n in ("uvicorn", "uvicorn.error", "uvicorn.access")} == {"INFO"}
    # uvicorn applies it with dictConfig, which closes every handler of the process: in a child process, then.
    script = ("import logging, logging.config; from inhouse.cli.logs import uvicorn_config; "
              "logging.config.dictConfig(uvicorn_config('info')); "
              "logging.getLogger('uvicorn.access').info('127.0.0.1:5 - \"GET /healthz HTTP/1.1\" 200')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(SRC.parent)})
    assert proc.returncode == 0 and proc.stdout == "" and "INFO uvicorn.access: 127.0.0.1:5" in proc.stderr


def test_blocked_egress_is_a_warning(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="inhouse")
    lock = egress.current()
    with lock.capture() as seen, pytest.raises(egress.EgressBlocked):
        lock.check("203.0.113.7", 443, "socket.connect")
    assert len(seen) == 1
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("inhouse.guard.egress", "WARNING",
         "egress lock refused an outbound connection to 203.0.113.7:443 (socket.connect)")]


def test_library_code_leaves_logging_to_the_application():
    """Outside cli/, modules neither configure logging nor print: they log to `getLogger(__name__)`, and
    the package's logger has only a NullHandler."""
    offenders = []
    for f in SRC.rglob("*.py"):
        if f.relative_to(SRC).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(f.read_text("utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("print", "basicConfig", "dictConfig", "fileConfig") or (
                        name == "addHandler" and f.name != "__init__.py"):
                    offenders.append(f"{f.relative_to(SRC)}:{node.lineno} {name}")
    assert offenders == []
    handlers = [h for h in logging.getLogger("inhouse").handlers if not isinstance(h, StderrHandler)]
    assert [type(h) for h in handlers] == [logging.NullHandler]
