"""/api/commerce/…: catalog search (with and without the model reading the query; built once per shop and again
when its catalog changes), product copy and review summaries over a real uvicorn loopback port; the key decides the
shop; every call is audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from inhouse.apps.commerce.catalog import Item, Product, open_catalog
from inhouse.apps.commerce.orders import open_shop
from inhouse.apps.commerce.tau import load_shop, load_tasks
from inhouse.config import Settings
from inhouse.ingest.pipeline import embed_pending, ingest
from inhouse.models.chat import ScriptedChat
from inhouse.models.embedders import load_embedder
from inhouse.server.app import create_app
from inhouse.server.db import ServerDB
from inhouse.server.keys import KeyStore
from inhouse.server.runner import BackgroundServer
from inhouse.store import open_store
from tests.conftest import TAU_RETAIL
from tests.forms import FormModel

PRODUCTS = [Product("vac", "Vacuum Cleaner"), Product("buds", "Wireless Earbuds")]
ITEMS = [Item("v1", "vac", 600.0, True, {"type": "robotic", "features": "cordless"}),
         Item("v2", "vac", 550.0, True, {"type": "upright", "features": "pet hair removal"}),
         Item("b1", "buds", 250.0, True, {"color": "black", "water resistance": "IPX7"}),
         Item("b2", "buds", 230.0, True, {"color": "white", "water resistance": "IPX4"})]


@contextmanager
def running(home: Path, chat) -> Iterator[tuple[str, dict[str, str], object]]:  # noqa: ANN001 - a ChatModel
    store = open_catalog("acme", create=True, base=home)
    store.add(PRODUCTS, ITEMS)
    store.close()
    keys = KeyStore(ServerDB(home / "server.db"))
    made = {"kim": keys.create("acme", "kim", ("staff",))[0], "eve": keys.create("globex", "eve", ("staff",))[0]}
    app = create_app(chat=chat, embedder=load_embedder("hash"), settings=Settings(embedder="hash"), base=home)
    with BackgroundServer(app) as server:
        yield server.url, made, app


def _http(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_search_copy_and_reviews_for_the_keys_shop_only(inhouse_home: Path):
    chat = FormModel({"product": "Wireless Earbuds"}, {"color": "any", "water resistance": "IPX7"})
    chat.enqueue("Black earbuds sealed to IPX7. They charge in 10 minutes. A premium pick for audiophiles.")
    with running(inhouse_home, chat) as (url, keys, app):
        kim, eve = _http(url, keys["kim"]), _http(url, keys["eve"])
        r = kim.post("/api/commerce/search", json={"query": "cordless vacuum cleaner", "fast": True, "k": 2})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert [h["item_id"] for h in hits][0] == "v1"
        assert {"source": "spec", "option": "features", "value": "cordless", "by": "word"} in hits[0]["why"]

        r = kim.post("/api/commerce/search", json={"query": "earbuds I can swim with under $300", "k": 2})
        body = r.json()
        assert r.status_code == 200 and body["max_price"] == 300 and body["hits"][0]["item_id"] == "b1"
        assert {"source": "spec", "option": "water resistance", "value": "IPX7", "by": "model"} in \
            body["hits"][0]["why"]

        r = kim.post("/api/commerce/copy", json={"item_id": "b1", "lang": "en"})
        copy = r.json()
        assert r.status_code == 200, r.text
        assert copy["text"] == "Black earbuds sealed to IPX7."
        assert [s["kept"] for s in copy["sentences"]] == [True, False, False]

        # Another shop's key reaches its own (absent) catalog, never acme's.
        r = eve.post("/api/commerce/search", json={"query": "cordless vacuum", "fast": True})
        assert r.status_code == 404 and "has no catalog" in r.json()["error"]["message"]
        r = eve.post("/api/commerce/copy", json={"item_id": "b1"})
        assert r.status_code == 404
        r = kim.get("/api/commerce/products/buds/reviews")
        assert r.status_code == 404 and "no reviews" in r.json()["error"]["message"]
        r = kim.post("/api/commerce/search", json={"query": "", "fast": True})
        assert r.status_code == 400
        assert httpx.post(url + "/api/commerce/search", json={"query": "x"}).status_code == 401

        actions = [(e.tenant, e.action, e.outcome) for e in app.state.inhouse.audit.query()]
        assert actions.count(("acme", "commerce.search", "ok")) == 2
        assert ("acme", "commerce.copy", "ok") in actions

        # The shop's search is built once (and once more after its first build cached the items' vectors) …
        catalogs = app.state.inhouse.catalogs
        for _ in range(2):
            assert kim.post("/api/commerce/search", json={"query": "cordless vacuum", "fast": True}).status_code == 200
        builds = catalogs.builds
        kim.post("/api/commerce/search", json={"query": "robot vacuum", "fast": True})
        assert catalogs.builds == builds <= 2
        # … and again when the catalog changes: a new item is found at once.
        store = open_catalog("acme", base=inhouse_home)
        store.add([Product("lamp", "Desk Lamp")], [Item("l1", "lamp", 40.0, True, {"color": "green"})])
        store.close()
        r = kim.post("/api/commerce/search", json={"query": "green desk lamp", "fast": True})
        assert r.json()["hits"][0]["item_id"] == "l1" and catalogs.builds == builds + 1


def test_a_model_without_json_schemas_still_searches_by_embeddings_and_words(inhouse_home: Path):
    with running(inhouse_home, ScriptedChat()) as (url, keys, _app):
        r = _http(url, keys["kim"]).post("/api/commerce/search", json={"query": "black wireless earbuds"})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert hits[0]["item_id"] == "b1" and all(w["by"] == "word" for h in hits for w in h["why"])


def test_a_client_that_hangs_up_stops_the_copy_it_asked_for(inhouse_home: Path):
    from tests.e2e.test_server_queue import SlowChat, _wait

    chat = SlowChat(n=220, delay=0.05)  # 11 s of pieces unless stopped
    chat.gate.set()
    with running(inhouse_home, chat) as (url, keys, app):
        try:
            _http(url, keys["kim"]).post("/api/commerce/copy", json={"item_id": "b1"}, timeout=1.0)
            raise AssertionError("expected the client to time out")
        except httpx.ReadTimeout:
            pass
        srv = app.state.inhouse
        assert _wait(lambda: srv.queue.cancelled == 1)
        assert chat.closed.wait(5) and chat.yielded < 220
        assert _wait(lambda: [(e.action, e.outcome) for e in srv.audit.query(tenant="acme")] ==
                     [("commerce.copy", "cancelled")])


def test_a_ticket_over_http_proposes_and_the_customers_yes_commits(inhouse_home: Path):
    """The agent over HTTP: nothing is written until the customer's yes is relayed; the reply cites the shop's
    policy; another shop's key reaches neither the conversation nor its proposals; everything is audited."""
    task = load_tasks(TAU_RETAIL, "dev")[1]  # Omar Lopez: a white optical mouse and a 5 ft brown glass bookshelf
    db = open_shop("acme", create=True, base=inhouse_home)
    db.load(*load_shop(TAU_RETAIL))
    db.close()
    store = open_store(inhouse_home)
    ingest(store, Settings(embedder="hash"), [TAU_RETAIL / "policy.md"], "acme")
    internal = inhouse_home / "internal.md"  # for staff only: never cited to a customer
    internal.write_text("# Exchange delivered order\n\nStaff note: exchange delivered order items of any order; "
                        "exchange items freely, the price difference is waived.\n", "utf-8")
    ingest(store, Settings(embedder="hash"), [internal], "acme", groups=["staff"])
    embed_pending(store, load_embedder("hash"))
    store.close()
    model = FormModel(
        {"email": "omar.lopez1868@example.com", "first_name": "", "last_name": "", "zip": ""},
        {"wants": "exchanges", "requests": [{"action": "exchange", "order_id": "#W7273336", "pay_with": "original",
                                             "items": [{"item_id": "8214883393", "wanted": "white, optical"},
                                                       {"item_id": "8018699955", "wanted": "glass, 5 feet, brown"}]}]})
    with running(inhouse_home, model) as (url, keys, app):
        kim, eve = _http(url, keys["kim"]), _http(url, keys["eve"])
        r = kim.post("/api/commerce/tickets", json={"message": task.instruction})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["reply"].startswith("To confirm: Exchange items 8214883393, 8018699955 of order #W7273336")
        assert body["citations"][0]["heading"].endswith("Exchange delivered order")
        assert {c["doc_path"] for c in body["citations"]} == {"policy.md"}
        assert [s["name"] for s in body["steps"] if s["kind"] == "form"] == ["identity", "requests"]
        (proposal,) = body["proposals"]
        assert proposal["tool"] == "exchange_delivered_order_items"
        shop = open_shop("acme", base=inhouse_home)
        assert shop.order("#W7273336")["status"] == "delivered"  # nothing written yet

        session = body["session"]
        assert eve.post(f"/api/commerce/tickets/{session}/confirm", json={"confirm": [proposal["id"]]}
                        ).status_code == 404  # globex's key reaches globex's (absent) shop only
        assert eve.get(f"/api/commerce/tickets/{session}").status_code == 404
        r = eve.post("/api/commerce/tickets", json={"message": "주문 #W7273336 교환해 주세요"})
        assert r.status_code == 404 and "no order database" in r.json()["error"]["message"]  # before any model work
        r = kim.post(f"/api/commerce/tickets/{session}/confirm", json={"confirm": ["nope"]})
        assert r.status_code == 400 and "no proposal nope" in r.json()["error"]["message"]
        r = kim.post(f"/api/commerce/tickets/{session}/confirm", json={"confirm": [proposal["id"]]})
        assert r.status_code == 200 and [s["status"] for s in r.json()["settled"]] == ["committed"]
        assert shop.order("#W7273336")["status"] == "exchange requested"
        again = kim.post(f"/api/commerce/tickets/{session}/confirm", json={"confirm": [proposal["id"]]})
        assert again.status_code == 200 and again.json()["settled"] == []

        log = kim.get(f"/api/commerce/tickets/{session}").json()
        rows = [(a["actor"], a["action"], a["outcome"]) for a in log["audit"]]
        assert ("agent", "exchange_delivered_order_items", "proposed") in rows
        assert ("staff:kim", "exchange_delivered_order_items", "ok") in rows
        assert log["proposals"][0]["status"] == "committed"
        assert kim.get("/api/commerce/tickets/bad%20id").status_code == 400
        shop.close()
        actions = [(e.tenant, e.action, e.outcome) for e in app.state.inhouse.audit.query()]
        assert ("acme", "commerce.ticket", "ok") in actions and ("acme", "commerce.confirm", "ok") in actions
