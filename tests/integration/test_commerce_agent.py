"""The ticket agent: its forms, the ids it may choose, how requests become desk calls, and one real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.apps.commerce.agent import TicketAgent, always_yes, policy_lookup
from inhouse.apps.commerce.desk import Desk
from inhouse.apps.commerce.orders import OrderDB
from inhouse.apps.commerce.tau import load_shop, load_tasks
from inhouse.config import Settings
from inhouse.errors import InputError
from inhouse.ingest.pipeline import ingest
from inhouse.models.chat import ScriptedChat
from inhouse.store.sqlite import SQLiteStore
from tests.conftest import TAU_RETAIL, require
from tests.forms import FormModel
from tests.helpers import PACKAGED

TAU = require(TAU_RETAIL)
KO_DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "commerce"


@pytest.fixture(scope="module")
def shop():
    return load_shop(TAU)


@pytest.fixture(scope="module")
def template(shop):
    db = OrderDB(":memory:")
    db.load(*shop)
    return db


@pytest.fixture(scope="module")
def tasks():
    return {t.index: t for t in load_tasks(TAU, "dev")}


def _gold(template: OrderDB, task) -> dict:
    db = template.copy()
    for a in task.actions:
        if a.name not in ("find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details",
                          "get_order_details", "get_product_details", "list_all_product_types", "calculate",
                          "think", "transfer_to_human_agents"):
            db.write(a.name, a.kwargs)
    return db.export()


NO_ONE = {"email": "", "first_name": "", "last_name": "", "zip": ""}


def test_an_exchange_ticket_reaches_the_gold_state(template, tasks):
    task = tasks[1]  # Omar Lopez: a white optical mouse and a 5 ft brown glass bookshelf
    model = FormModel(
        {**NO_ONE, "email": "omar.lopez1868@example.com"},
        {"wants": "exchanges", "requests": [{"action": "exchange", "order_id": "#W7273336", "pay_with": "original",
                                             "items": [
            {"item_id": "8214883393", "wanted": "white, optical"},
            {"item_id": "8018699955", "wanted": "glass, 5 feet, brown"}]}]})
    desk = Desk(template.copy(), confirm=always_yes)
    out = TicketAgent(model).handle(task.instruction, desk)
    assert out.user_id == "omar_lopez_3107"
    assert desk.db.export() == _gold(template, task)
    assert out.reply.startswith("Done: Exchange items 8214883393, 8018699955 of order #W7273336")
    # The request form offers this customer's ids only, and each action only for the orders it applies to.
    options = model.schemas[1]["properties"]["requests"]["items"]["anyOf"]
    offered = {(o["properties"]["action"]["const"], o["properties"].get("order_id", {}).get("const"))
               for o in options}
    statuses = {o: template.order(o)["status"] for o in template.user("omar_lopez_3107")["orders"]}
    assert {o for _, o in offered if o} == {"#W7273336"}  # the one order the ticket names
    assert all(statuses[o] == ("delivered" if a in ("return", "exchange") else "pending") for a, o in offered if o)
    exchange = next(o["properties"] for o in options if o["properties"]["action"]["const"] == "exchange"
                    and o["properties"]["order_id"]["const"] == "#W7273336")
    assert exchange["items"]["items"]["properties"]["item_id"]["enum"] == sorted(
        i["item_id"] for i in template.order("#W7273336")["items"])
    assert exchange["pay_with"]["enum"] == ["original", "paypal_1530316"]
    # The new options follow from the ticket: white optical, the cheaper (wired); glass 5 ft brown. No option
    # form was needed.
    assert len(model.schemas) == 2
    assert [s.name for s in out.calls][:2] == ["find_user_id_by_email", "get_user_details"]


KO_TICKET = ("제 이름은 Omar Lopez이고 이메일은 omar.lopez1868@example.com입니다. 주문 #W7273336으로 "
             "블랙 레이저 게이밍 마우스와 메탈 책장을 받았어요. 마우스 색이 컴퓨터와 어울리지 않아서 화이트로, "
             "레이저 대신 광학으로 교환하고 싶어요. 유선이든 무선이든 상관없고 더 저렴한 쪽이면 됩니다. 책장은 "
             "120cm라 너무 낮아서 150cm 유리 책장, 색상은 브라운으로 교환해 주세요.")


def test_a_korean_ticket_with_the_shops_korean_names_and_its_policy_cited(template, tasks, tmp_path):
    """The same exchange as above, written in Korean with the names the shop's Korean catalog shows: the gold state,
    a Korean reply, and the Korean policy's exchange section cited (words-only lookup over a real store)."""
    db = template.copy()
    db.load_names(json.loads((KO_DATA / "tau_catalog_ko.json").read_text("utf-8")), "ko")
    store = SQLiteStore(tmp_path / "kb.db")
    ingest(store, Settings(), [TAU / "policy.md", KO_DATA / "tau_policy_ko.md"], "shop")
    model = FormModel(
        {**NO_ONE, "email": "omar.lopez1868@example.com"},
        {"wants": "교환", "requests": [{"action": "exchange", "order_id": "#W7273336", "pay_with": "original",
                                       "items": [{"item_id": "8214883393", "wanted": "화이트, 광학"}]}]})
    desk = Desk(db, confirm=always_yes)
    out = TicketAgent(model, policy=policy_lookup(store, "shop", Settings())).handle(KO_TICKET, desk)
    assert desk.db.export() == _gold(template, tasks[1])  # the bookshelf the model left out joins the change
    assert out.lang == "ko" and out.reply.startswith("완료: 주문 #W7273336의 품목 8214883393, 8018699955")
    assert "[1]" in out.reply and "정책:" in out.reply
    assert out.citations[0].doc_path == "tau_policy_ko.md" and out.citations[0].heading.endswith("배송 완료 주문 교환")
    # The model saw the shop's Korean names beside the records.
    assert "Gaming Mouse [게이밍 마우스]" in model.prompts[1] and "black [블랙]" in model.prompts[1]
    # Another shop's tenant, or a document behind an access group, is never cited to a customer.
    assert policy_lookup(store, "other", Settings())("교환 정책") == []


def test_a_deferred_desk_replies_with_what_waits_for_the_customers_yes(template, tasks):
    task = tasks[1]
    model = FormModel(
        {**NO_ONE, "email": "omar.lopez1868@example.com"},
        {"wants": "exchanges", "requests": [{"action": "exchange", "order_id": "#W7273336", "pay_with": "original",
                                             "items": [{"item_id": "8214883393", "wanted": "white, optical"},
                                                       {"item_id": "8018699955", "wanted": "glass, 5 feet, brown"}]}]})
    db = template.copy()
    before = db.export()
    desk = Desk(db, defer=True)
    out = TicketAgent(model).handle(task.instruction, desk)
    assert db.export() == before and [ln.status for ln in out.lines] == ["to confirm"]
    assert out.reply.startswith("To confirm: Exchange items 8214883393, 8018699955 of order #W7273336")
    settled = Desk.resume(db, desk.session).settle({desk.proposals[0].id})
    assert settled[0]["status"] == "committed" and db.export() == _gold(template, task)


def test_an_identity_the_ticket_does_not_contain_is_never_looked_up(template, tasks):
    model = FormModel({**NO_ONE, "email": "omar.lopez1868@example.com"})  # invented: not in this ticket
    desk = Desk(template.copy(), confirm=always_yes)
    out = TicketAgent(model).handle("Hi, please cancel my order #W7273336. Thanks!", desk)
    assert out.user_id is None and out.calls == []
    assert "could not find your account" in out.reply
    assert desk.db.audit(desk.session) == []


def test_an_address_must_be_written_in_the_ticket(template, tasks):
    ticket = "My email is harper.moore2816@example.com. Ship my order #W3942868 to my office please."
    model = FormModel({**NO_ONE, "email": "harper.moore2816@example.com"},
                      {"wants": "new address", "requests": [{"action": "change_order_address", "order_id": "#W3942868",
                                     "address1": "1 Market St", "address2": "", "city": "San Francisco",
                                     "state": "CA", "country": "USA", "zip": "94105"}]})
    desk = Desk(template.copy(), confirm=always_yes)
    before = desk.db.export()
    out = TicketAgent(model).handle(ticket, desk)
    assert desk.db.export() == before
    assert "Not done: Ship order #W3942868" in out.reply and "written out in full" in out.reply


def test_within_an_order_payment_runs_before_the_item_change_and_a_handoff_last(template, shop):
    users, orders, products = shop

    def other_option(item: dict) -> dict | None:
        return next((v for i, v in products[item["product_id"]]["variants"].items()
                     if v["available"] and i != item["item_id"]), None)

    uid, order = next((u, o) for u in users for o in users[u]["orders"] if orders[o]["status"] == "pending"
                      and len(users[u]["payment_methods"]) > 1 and len(orders[o]["payment_history"]) == 1
                      and other_option(orders[o]["items"][0]))
    o = orders[order]
    other = next(m for m in users[uid]["payment_methods"] if m != o["payment_history"][0]["payment_method_id"])
    item = o["items"][0]
    new = other_option(item)
    wanted = ", ".join(str(x) for k, x in new["options"].items() if item["options"][k] != x)
    ticket = f"My email is {users[uid]['email']}. Change the {item['name']} in {order} to {wanted}, pay it " \
             f"with {other}; and I want to talk to a manager."
    model = FormModel({**NO_ONE, "email": users[uid]["email"]},
                      {"wants": "a change", "requests": [
                          {"action": "human", "summary": "wants a manager"},
                          {"action": "modify_items", "order_id": order, "pay_with": other,
                           "items": [{"item_id": item["item_id"], "wanted": wanted}]},
                          {"action": "change_payment", "order_id": order, "payment_method_id": other}]},
                      {"item_id": new["item_id"]})  # in case two options tie
    desk = Desk(template.copy(), confirm=always_yes)
    out = TicketAgent(model).handle(ticket, desk)
    writes = [(s.name, s.result.startswith("Error")) for s in out.calls if s.name.startswith(("modify", "transfer"))]
    assert writes == [("modify_pending_order_payment", False), ("modify_pending_order_items", False),
                      ("transfer_to_human_agents", False)]
    assert desk.db.order(order)["items"][0]["item_id"] == new["item_id"]


def test_a_declined_proposal_changes_nothing(template, tasks):
    task = tasks[0]  # Olivia Ito: cancel #W5442520
    model = FormModel({**NO_ONE, "first_name": "Olivia", "last_name": "Ito", "zip": "80218"},
                      {"wants": "cancel", "requests": [{"action": "cancel", "order_id": "#W5442520",
                                                        "reason": "no longer needed"}]})
    desk = Desk(template.copy(), confirm=lambda p: False)
    before = desk.db.export()
    out = TicketAgent(model).handle(task.instruction, desk)
    assert desk.db.export() == before
    assert out.reply == ("Not done: Cancel order #W5442520 (reason: no longer needed) and refund its payments. — "
                         "the customer did not confirm; nothing was changed")


def test_an_unreadable_form_goes_to_a_person(template):
    class Broken(FormModel):
        def complete(self, messages, *, json_schema=None, **kwargs):  # noqa: ANN001, ANN003
            return ScriptedChat.complete(self, messages, **kwargs)

    model = Broken()
    model.enqueue('{"email": "')
    desk = Desk(template.copy(), confirm=always_yes)
    out = TicketAgent(model).handle("help", desk)
    assert [s.name for s in out.calls] == ["transfer_to_human_agents"] and desk.handed_off
    with pytest.raises(InputError, match="cannot constrain"):
        TicketAgent(ScriptedChat())
    with pytest.raises(InputError, match="empty"):
        TicketAgent(FormModel()).handle("  ", desk)


def test_the_real_model_cancels_an_order_from_a_ticket(template, tasks, packaged_gguf):
    """The packaged 0.5B in llama.cpp fills the forms under their schemas: structure, not quality."""
    from inhouse.models.chat import LlamaCppChat

    model = LlamaCppChat(packaged_gguf, name=PACKAGED, n_ctx=4096)
    task = tasks[0]
    desk = Desk(template.copy(), confirm=always_yes)
    out = TicketAgent(model).handle(task.instruction, desk)
    assert out.user_id == "olivia_ito_3591"
    forms = [s for s in out.steps if s.kind == "form"]
    assert [f.name for f in forms][:2] == ["identity", "requests"]
    assert all(isinstance(json.loads(f.result), dict) for f in forms)
    for call in out.calls:  # whatever it chose, only the customer's own records were touched
        assert not call.result.startswith("Error: authenticate"), call
        assert call.args.get("order_id", "#W5442520") in desk.db.user("olivia_ito_3591")["orders"]


def test_a_change_to_an_order_the_ticket_does_not_name_is_not_made(template):
    ticket = "My email is harper.moore2816@example.com. Cancel my last order please."  # no order id, no item
    model = FormModel({**NO_ONE, "email": "harper.moore2816@example.com"},
                      {"wants": "cancel", "requests": [{"action": "cancel", "order_id": "#W3942868",
                                                        "reason": "no longer needed"}]})
    desk = Desk(template.copy(), confirm=always_yes)
    before = desk.db.export()
    out = TicketAgent(model).handle(ticket, desk)
    assert desk.db.export() == before
    assert "does not name that order or an item in it" in out.reply
