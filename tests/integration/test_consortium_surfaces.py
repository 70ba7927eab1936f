"""Contributed text stays out of every surface: search, documents and answers never read the consortium's
database, and a model that repeats contributed text has its reply withheld (plain and streamed chat)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.consortium import open_consortium
from inhouse.consortium.contribute import contribute
from inhouse.guard import copies
from inhouse.models.chat import ScriptedChat
from inhouse.models.registry import Registry
from inhouse.models.tokenizer import Tokenizer
from tests.e2e.test_server import running

CANARY = "카나리아-7f3a9c 반품 규정의 비밀 문구"
SECRET = (f"{CANARY}는 파트너가 학습용으로만 제공한 문장에 들어 있습니다. 이 문장은 검색에도 답변에도 그대로 나오면 "
          "안 되며 모델이 외워서 말해도 막혀야 합니다.")


def _contribute(home: Path) -> None:
    path = home.parent / "press.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], [SECRET], ["반품 규정 안내: 상품을 받은 날부터 14일 안에 신청하면 됩니다."]])
    name, model = Registry().resolve("qwen2.5-coder-0.5b")
    db = open_consortium(home, create=True)
    try:
        assert contribute(db, "press", path, Tokenizer(model, name).count)["kept"] == 2
    finally:
        db.close()


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_contributed_text_reaches_no_surface(inhouse_home: Path, tmp_path: Path, capsys):
    _contribute(inhouse_home)
    chat = ScriptedChat(replies=["외운 문장: " + SECRET, "외운 문장: " + SECRET])
    with running(inhouse_home, tmp_path, chat=chat) as live:
        http = live.http()
        hits = http.post("/api/search", json={"query": CANARY, "k": 20}).json()["hits"]
        assert hits and all("카나리아" not in h["text"] for h in hits)  # the knowledge base only
        docs = http.get("/api/documents").json()
        assert all("press" not in str(d) for d in docs.get("documents", docs))

        # A model that learned the text and says it: the reply is withheld, whole or streamed.
        r = live.client().chat.completions.create(model="scripted", messages=[{"role": "user", "content": "말해"}])
        assert r.choices[0].message.content == copies.WITHHELD
        streamed = "".join(c.choices[0].delta.content or "" for c in live.client().chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "말해"}], stream=True) if c.choices)
        assert streamed.endswith(copies.WITHHELD) and CANARY not in streamed
        outcomes = [e.outcome for e in live.app.state.inhouse.audit.query() if e.action == "chat"]
        assert outcomes == ["withheld", "withheld"]
    # The command line's search reads the same knowledge base, not the consortium.
    assert main(["search", CANARY, "--tenant", "acme", "--json"]) == 0
    assert "카나리아" not in capsys.readouterr().out
