"""/api/analytics and /api/consortium over a real uvicorn port: the key decides the tenant (analytics) or the
partner (consortium); a narrative's suggestions cite only the documents the key may read; the operator sees every
partner; every call is audited."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx

from inhouse.apps.finance.tables import open_tables
from inhouse.config import Settings
from inhouse.consortium import open_consortium
from inhouse.consortium.contribute import contribute
from inhouse.ingest.pipeline import ingest
from inhouse.models.chat import ScriptedChat
from inhouse.models.embedders import load_embedder
from inhouse.server.app import create_app
from inhouse.server.db import ServerDB
from inhouse.server.keys import KeyStore
from inhouse.server.runner import BackgroundServer
from inhouse.store import open_store


def _keys(home: Path) -> dict[str, str]:
    keys = KeyStore(ServerDB(home / "server.db"))
    return {"kim": keys.create("acme", "kim", ())[0], "eve": keys.create("globex", "eve", ())[0],
            "press": keys.create("press", "ed", (), role="admin")[0],
            "shop": keys.create("shop", "sam", (), role="admin")[0],
            "op": keys.create("consortium", "op", (), role="admin")[0]}


def _http(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_questions_over_the_keys_tables(inhouse_home: Path, tmp_path: Path):
    sales = tmp_path / "sales.csv"
    sales.write_text("day,category,amount\n2026-11-01,가전,1200\n2026-11-02,식품,300\n2026-12-01,가전,900\n", "utf-8")
    open_tables("acme", create=True).add(sales)
    open_tables("acme").define_measure("sales", "revenue", "sum(amount)", "매출,revenue")
    policy, board = tmp_path / "promotions.md", tmp_path / "board.md"
    policy.write_text("# 프로모션 규정\n\n매출이 줄어든 카테고리는 다음 달에 할인 쿠폰을 보낼 수 있습니다.\n", "utf-8")
    board.write_text("# 이사회 메모\n\n가전 카테고리 매출 부진 시 가전 매장 철수를 검토합니다.\n", "utf-8")
    store = open_store(inhouse_home)
    ingest(store, Settings(embedder="hash"), [policy], "acme")
    ingest(store, Settings(embedder="hash"), [board], "acme", groups=["board"])  # kim is not on the board
    store.close()
    keys = _keys(inhouse_home)
    suggestion = "제안: 매출이 줄어든 카테고리는 다음 달에 할인 쿠폰을 보낼 수 있습니다 [1]."
    chat = ScriptedChat(replies=['{"sql": "select category, sum(amount) as total from sales group by 1 order by 2 '
                                 'desc"}',
                                 f"가전 매출은 2100으로 식품 300보다 많습니다. 전체는 5000입니다. {suggestion} "
                                 "제안: 가전 매장을 철수하세요 [2]."])
    app = create_app(chat=chat, embedder=load_embedder("hash"), settings=Settings(embedder="hash"), base=inhouse_home)
    with BackgroundServer(app) as server:
        kim, eve = _http(server.url, keys["kim"]), _http(server.url, keys["eve"])
        listed = kim.get("/api/analytics/tables").json()
        assert [t["name"] for t in listed["tables"]] == ["sales"]
        assert listed["measures"] == [{"table": "sales", "name": "revenue", "sql": "SUM(amount)",
                                       "words": ["매출", "revenue"]}]
        r = kim.post("/api/analytics/ask", json={"question": "카테고리별 매출은? 가전 매출이 줄면 어떻게 할까?",
                                                 "narrate": True})
        body = r.json()
        assert r.status_code == 200 and body["result"]["rows"] == [["가전", 2100], ["식품", 300]]
        assert body["narrative"]["text"] == "가전 매출은 2100으로 식품 300보다 많습니다."  # 5000 is not in the result
        # [2]: no second passage was kim's to read; the suggestion stays the model's own, cited to nothing.
        assert body["narrative"]["suggestions"] == [suggestion, "제안: 가전 매장을 철수하세요."]
        assert body["narrative"]["sentences"][-1]["notes"] == ["[2] removed: not a passage given"]
        assert [c["doc_path"] for c in body["narrative"]["citations"]] == ["promotions.md"]
        prompt = chat.calls[-1][1]["content"]
        assert "할인 쿠폰" in prompt and "철수" not in prompt  # the board's memo never reaches kim's narrative
        assert body["chart_svg"].startswith("<svg") and body["chart_svg"].count("<rect") == 2
        assert eve.get("/api/analytics/tables").status_code == 404  # globex has no tables; acme's stay acme's
        assert eve.post("/api/analytics/ask", json={"question": "매출?"}).status_code == 404
        actions = [(e.tenant, e.action, e.outcome) for e in app.state.inhouse.audit.query()]
        assert ("acme", "analytics.ask", "ok") in actions


def test_partners_see_their_own_and_the_operator_sees_all(inhouse_home: Path, tmp_path: Path):
    db = open_consortium(inhouse_home, create=True)
    for partner, texts in (("press", ["배우들의 연기가 정말 좋았고 음악도 장면마다 잘 어울렸다. 다시 보고 싶은 영화."]),
                           ("shop", ["배송이 빨라서 좋았고 포장도 꼼꼼했습니다. 다음에도 이 가게에서 살게요.",
                                     "각본이 엉성해서 후반부로 갈수록 지루했고 결말도 허무했다. 추천하지 않습니다."])):
        path = tmp_path / f"{partner}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["text"], *([t] for t in texts)])
        contribute(db, partner, path, lambda t: len(t.split()))
    db.close()
    keys = _keys(inhouse_home)
    app = create_app(chat=ScriptedChat(), embedder=load_embedder("hash"), settings=Settings(embedder="hash"),
                     base=inhouse_home)
    with BackgroundServer(app) as server:
        press, shop, op, kim = (_http(server.url, keys[k]) for k in ("press", "shop", "op", "kim"))
        assert [c["partner"] for c in op.get("/api/consortium/contributions").json()["contributions"]] == [
            "press", "shop"]
        assert [c["partner"] for c in press.get("/api/consortium/contributions").json()["contributions"]] == ["press"]
        assert kim.get("/api/consortium/contributions").json()["contributions"] == []
        report = op.get("/api/consortium/report", params={"period": "2099-12", "revenue": 1000}).json()
        assert sum(p["revenue"] for p in report["partners"]) == 1000 and len(report["partners"]) == 2
        own = press.get("/api/consortium/report", params={"period": "2099-12", "revenue": 1000}).json()
        assert [p["partner"] for p in own["partners"]] == ["press"] and own["total_tokens"] == report["total_tokens"]
        assert press.get("/api/consortium/report", params={"period": "Dec", "revenue": 1}).status_code == 400
        assert press.post("/api/consortium/withdraw", json={"partner": "shop"}).status_code == 403
        assert kim.post("/api/consortium/withdraw", json={}).status_code == 403  # a reader's key
        r = press.post("/api/consortium/withdraw", json={})
        assert r.status_code == 200 and r.json()["withdrawn"][0]["partner"] == "press"
        assert op.post("/api/consortium/withdraw", json={"partner": "press"}).status_code == 404  # none left
        after = op.get("/api/consortium/report", params={"period": "2099-12", "revenue": 1000}).json()
        assert {p["partner"]: p["revenue"] for p in after["partners"]} == {"press": 0, "shop": 1000}
        actions = [(e.tenant, e.action, e.outcome) for e in app.state.inhouse.audit.query()]
        assert ("press", "consortium.withdraw", "ok") in actions and ("consortium", "consortium.withdraw",
                                                                      "not found") in actions
