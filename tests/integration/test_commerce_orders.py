"""The order database against τ-bench's own retail tools: every gold action of every train and dev task, run
through both, gives the same result and leaves the same shop behind."""

from __future__ import annotations

import copy
import importlib.util
import json
import sqlite3
import sys
import types

import pytest

from inhouse.apps.commerce.orders import OrderDB
from inhouse.apps.commerce.tau import load_shop, load_tasks
from inhouse.errors import InputError, NotFoundError
from tests.conftest import TAU_RETAIL, require

TAU = require(TAU_RETAIL)


def _reference_tools() -> dict:
    """τ-bench's tools, imported with a stand-in for the one base class they need from the tau_bench package."""
    if "tau_bench.envs.tool" not in sys.modules:
        pkg, envs, tool = (types.ModuleType(n) for n in ("tau_bench", "tau_bench.envs", "tau_bench.envs.tool"))
        tool.Tool = type("Tool", (), {})
        pkg.envs, envs.tool = envs, tool
        sys.modules.update({"tau_bench": pkg, "tau_bench.envs": envs, "tau_bench.envs.tool": tool})
    spec = importlib.util.spec_from_file_location("tau_retail_tools", TAU / "tools" / "__init__.py",
                                                  submodule_search_locations=[str(TAU / "tools")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["tau_retail_tools"] = module
    spec.loader.exec_module(module)
    return {t.get_info()["function"]["name"]: t for t in module.ALL_TOOLS}


@pytest.fixture(scope="module")
def shop():
    return load_shop(TAU)


def _same(ours: str, theirs: str) -> bool:
    if theirs.startswith("Error") or ours.startswith("Error"):
        return ours == theirs
    return json.loads(ours) == json.loads(theirs)


def test_load_then_export_gives_the_shop_back(shop, tmp_path):
    users, orders, products = shop
    db = OrderDB(tmp_path / "orders.sqlite")
    assert db.load(users, orders, products) == {"users": 500, "orders": 1000, "products": 50}
    assert db.export() == {"users": users, "orders": orders, "products": products}


@pytest.fixture(scope="module")
def template(shop):
    db = OrderDB(":memory:")
    db.load(*shop)
    return db


def _reference_state(shop, task) -> dict:
    """τ-bench's data for one task: shared where its tools only read, deep copies of what a write can change
    (the task's customer, and every order the task names with its customer)."""
    users, orders, products = shop
    data = {"users": dict(users), "orders": dict(orders), "products": products}
    named = {a.kwargs["order_id"] for a in task.actions if "order_id" in a.kwargs and a.kwargs["order_id"] in orders}
    customers = {task.user_id} | {orders[o]["user_id"] for o in named}
    for uid in customers:
        data["users"][uid] = copy.deepcopy(users[uid])
        named |= set(users[uid]["orders"])
    for oid in named:
        data["orders"][oid] = copy.deepcopy(orders[oid])
    return data


def _same_state(db: OrderDB, data: dict, shop: tuple, full: bool) -> bool:
    """The database equals τ-bench's data: wholly (`full`), else on every customer and order a write could reach
    (those `_reference_state` copied)."""
    if full:
        return db.export() == data
    users, orders, _ = shop
    return all(db.user(u) == v for u, v in data["users"].items() if v is not users[u]) and all(
        db.order(o) == v for o, v in data["orders"].items() if v is not orders[o])


FULL_EVERY = 25  # every 25th task compares the whole shop; the rest, what the task could change


def _tasks() -> list:
    tasks = load_tasks(TAU, "train") + load_tasks(TAU, "dev")
    assert len(tasks) == 520
    return tasks


def test_every_gold_action_matches_tau_bench(shop, template):
    reference = _reference_tools()
    writes = 0
    for n, task in enumerate(_tasks()):
        data = _reference_state(shop, task)
        db = template.copy()
        for action in task.actions:
            theirs = reference[action.name].invoke(data, **action.kwargs)
            if action.name in ("transfer_to_human_agents", "calculate", "think"):
                continue
            if action.name.startswith(("find_", "get_", "list_")):
                continue  # reads: compared through the state below
            ours = db.write(action.name, action.kwargs, session=f"task-{task.index}")
            assert _same(ours, theirs), (task.index, action.name, ours[:200], theirs[:200])
            writes += 1
        assert _same_state(db, data, shop, full=n % FULL_EVERY == 0), task.index
    assert writes > 500


def test_reads_match_tau_bench(shop):
    users, orders, products = shop
    reference = _reference_tools()
    data = {"users": users, "orders": orders, "products": products}
    db = OrderDB(":memory:")
    db.load(users, orders, products)
    uid = "omar_lopez_3107"
    u = users[uid]
    assert db.find_user_by_email(u["email"].upper()) == reference["find_user_id_by_email"].invoke(data, u["email"])
    assert db.find_user_by_name_zip(u["name"]["first_name"].lower(), u["name"]["last_name"], u["address"]["zip"]) == uid
    assert db.find_user_by_name_zip("Omar", "Lopez", "00000") is None
    assert json.dumps(db.product_types()) == reference["list_all_product_types"].invoke(data)


def test_a_refused_write_changes_nothing_and_is_audited(shop):
    users, orders, products = shop
    db = OrderDB(":memory:")
    db.load(users, orders, products)
    before = db.export()
    delivered = next(o for o, v in orders.items() if v["status"] == "delivered")
    out = db.write("cancel_pending_order", {"order_id": delivered, "reason": "no longer needed"}, session="s1")
    assert out == "Error: non-pending order cannot be cancelled"
    assert db.export() == before
    (row,) = db.audit(session="s1")
    assert (row["action"], row["outcome"], row["detail"]) == ("cancel_pending_order", "refused", out)


def test_bad_arguments_and_bad_data_are_clear_errors(shop, tmp_path):
    users, orders, products = shop
    db = OrderDB(tmp_path / "o.sqlite")
    db.load(users, orders, products)
    with pytest.raises(InputError, match="bad arguments for cancel_pending_order"):
        db.write("cancel_pending_order", {"order": "#W1"})
    with pytest.raises(InputError, match="unknown write"):
        db.write("drop_table", {})
    with pytest.raises(InputError, match="already holds"):
        db.load(users, orders, products)
    broken = copy.deepcopy(orders)
    broken[next(iter(broken))]["user_id"] = "nobody_0"
    before = db.export()
    with pytest.raises(InputError, match="orders\\[#W"):
        db.load(users, broken, products, replace=True)
    assert db.export() == before  # the failed load rolled back whole, the old shop is intact


def test_the_audit_log_is_append_only(shop):
    users, orders, products = shop
    db = OrderDB(":memory:")
    db.load(users, orders, products)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), db.transaction() as c:
        c.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), db.transaction() as c:
        c.execute("UPDATE audit SET outcome = 'ok'")
    assert [r["action"] for r in db.audit()] == ["load"]


# ---- the desk: identity first, one customer, confirmation, audit ---------------------------------------------

from inhouse.apps.commerce.desk import NOT_FOUND, PENDING, TOOLS, Desk, calculate  # noqa: E402


def _yes(_proposal) -> bool:
    return True


def test_the_desk_runs_every_gold_task_and_reaches_the_gold_state(shop, template):
    """The customer identified by email, then the gold actions through the desk (every write confirmed): the
    shop ends exactly as τ-bench's tools leave it. The desk's rules never stand in a legitimate task's way."""
    users = shop[0]
    reference = _reference_tools()
    for n, task in enumerate(_tasks()):
        data = _reference_state(shop, task)
        desk = Desk(template.copy(), confirm=_yes)
        assert desk.call("find_user_id_by_email", {"email": users[task.user_id]["email"]}) == task.user_id
        for action in task.actions:
            theirs = reference[action.name].invoke(data, **action.kwargs)
            ours = desk.call(action.name, action.kwargs)
            if action.name != "think":
                assert _same(ours, theirs), (task.index, action.name, ours[:200], theirs[:200])
        assert _same_state(desk.db, data, shop, full=n % FULL_EVERY == 1), task.index


@pytest.fixture()
def db(template):
    return template.copy()


def _pending_order_of(shop, user_id):
    return next(o for o in shop[0][user_id]["orders"] if shop[1][o]["status"] == "pending")


def test_nothing_before_the_identity_check(db, shop):
    desk = Desk(db, confirm=_yes)
    order = _pending_order_of(shop, "omar_lopez_3107") if any(
        shop[1][o]["status"] == "pending" for o in shop[0]["omar_lopez_3107"]["orders"]) else "#W7273336"
    for name, args in (("get_order_details", {"order_id": order}), ("get_user_details", {"user_id": "omar_lopez_3107"}),
                       ("cancel_pending_order", {"order_id": order, "reason": "no longer needed"}),
                       ("list_all_product_types", {})):
        assert desk.call(name, args).startswith("Error: authenticate the customer first")
    assert {r["outcome"] for r in db.audit(desk.session)} == {"denied"}


def test_one_customer_per_conversation(db, shop):
    users, orders, _ = shop
    desk = Desk(db, confirm=_yes)
    assert desk.call("find_user_id_by_email", {"email": users["omar_lopez_3107"]["email"]}) == "omar_lopez_3107"
    other = next(u for u in users if u != "omar_lopez_3107" and any(orders[o]["status"] == "pending"
                                                                     for o in users[u]["orders"]))
    theirs = _pending_order_of(shop, other)
    before = db.export()
    assert desk.call("get_order_details", {"order_id": theirs}) == NOT_FOUND
    assert desk.call("get_order_details", {"order_id": "#W0000000"}) == NOT_FOUND  # same answer: nothing revealed
    assert desk.call("cancel_pending_order", {"order_id": theirs, "reason": "no longer needed"}) == NOT_FOUND
    assert desk.call("get_user_details", {"user_id": other}).startswith("Error: this conversation can only act")
    assert desk.call("modify_user_address", {"user_id": other, "address1": "1 A St", "address2": "", "city": "X",
                                             "state": "NY", "country": "USA", "zip": "10001"}).startswith("Error")
    assert desk.call("find_user_id_by_email", {"email": users[other]["email"]}).startswith("Error: this "
                                                                                             "conversation is already")
    assert db.export() == before


def test_a_refund_cannot_go_to_another_customers_card(db, shop):
    users, orders, _ = shop
    uid = next(u for u in users if any(orders[o]["status"] == "pending" and len(orders[o]["payment_history"]) == 1
                                       for o in users[u]["orders"]))
    order = next(o for o in users[uid]["orders"] if orders[o]["status"] == "pending")
    stranger_card = next(m for u in users if u != uid for m in users[u]["payment_methods"])
    desk = Desk(db, confirm=_yes)
    desk.call("find_user_id_by_email", {"email": users[uid]["email"]})
    before = db.export()
    assert desk.call("modify_pending_order_payment", {"order_id": order, "payment_method_id": stranger_card}) == \
        "Error: payment method not found"
    assert db.export() == before


def test_a_write_waits_for_the_customers_yes(db, shop):
    users, orders, _ = shop
    uid = "omar_lopez_3107"
    seen = []
    desk = Desk(db, confirm=lambda p: seen.append(p) or False)
    desk.call("find_user_id_by_name_zip", {"first_name": "omar", "last_name": "LOPEZ",
                                           "zip": users[uid]["address"]["zip"]})
    assert desk.user_id == uid
    before = db.export()
    args = {"user_id": uid, "address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX",
            "country": "USA", "zip": "73301"}
    assert desk.call("modify_user_address", args).startswith("Error: the customer did not confirm")
    assert db.export() == before
    assert seen[0].summary == "Change the default address to 1 Main St, Austin, TX, 73301, USA."
    assert Desk(db).call("calculate", {"expression": "1+1"}) == "2.0"  # a desk without confirm writes nothing
    yes = Desk(db, confirm=_yes)
    yes.call("find_user_id_by_email", {"email": users[uid]["email"]})
    assert json.loads(yes.call("modify_user_address", args))["address"]["city"] == "Austin"
    assert [(r["action"], r["outcome"]) for r in db.audit(yes.session)] == [
        ("find_user_id_by_email", "ok"), ("modify_user_address", "ok")]


def test_deferred_writes_wait_as_proposals_and_settle_once(db, shop):
    users, orders, _ = shop
    uid = "omar_lopez_3107"
    desk = Desk(db, defer=True, actor="agent")
    desk.call("find_user_id_by_email", {"email": users[uid]["email"]})
    before = db.export()
    home = {"user_id": uid, "address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX",
            "country": "USA", "zip": "73301"}
    away = {**home, "city": "Boston", "zip": "02101"}
    assert desk.call("modify_user_address", home) == PENDING
    assert desk.call("modify_user_address", away) == PENDING
    assert db.export() == before  # nothing changes until the customer answers
    first, second = (p.id for p in desk.proposals)
    assert [r["status"] for r in db.proposals(desk.session)] == ["pending", "pending"]

    later = Desk.resume(db, desk.session)
    assert later.user_id == uid
    with pytest.raises(InputError, match="no proposal nope"):
        later.settle({"nope"})
    settled = later.settle({first})
    assert [(s["id"], s["status"]) for s in settled] == [(first, "committed"), (second, "declined")]
    assert db.user(uid)["address"]["city"] == "Austin"
    assert later.settle({first, second}) == []  # settled once: asking again changes nothing
    assert db.user(uid)["address"]["city"] == "Austin"
    assert [(r["action"], r["outcome"]) for r in db.audit(desk.session)] == [
        ("find_user_id_by_email", "ok"), ("modify_user_address", "proposed"), ("modify_user_address", "proposed"),
        ("modify_user_address", "ok"), ("modify_user_address", "declined")]
    with pytest.raises(NotFoundError):
        Desk.resume(db, "no-such-session")


def test_a_proposal_is_checked_again_when_it_commits(db, shop):
    users, orders, _ = shop
    uid = next(u for u in users if any(orders[o]["status"] == "pending" for o in users[u]["orders"]))
    order = _pending_order_of(shop, uid)
    desk = Desk(db, defer=True)
    desk.call("find_user_id_by_email", {"email": users[uid]["email"]})
    desk.call("cancel_pending_order", {"order_id": order, "reason": "no longer needed"})
    desk.call("cancel_pending_order", {"order_id": order, "reason": "ordered by mistake"})
    settled = Desk.resume(db, desk.session).settle({p.id for p in desk.proposals})
    assert [s["status"] for s in settled] == ["committed", "failed"]  # the order is no longer pending
    assert settled[1]["result"].startswith("Error")


def test_the_shops_names_in_another_language(db):
    assert db.load_names({"products": {"Water Bottle": "물병"}, "values": {"red": "빨간색"}}, "ko") == 2
    assert db.names("ko")["products"] == {"water bottle": "물병"} and db.names("en")["values"] == {}
    for bad, lang in (({"products": {"Water Bottle": ""}}, "ko"), ({"colours": {}}, "ko"),
                      ({"products": ["물병"]}, "ko"), ({"products": {}}, "korean")):
        with pytest.raises(InputError):
            db.load_names(bad, lang)
    assert db.names("ko")["values"] == {"red": "빨간색"}  # a refused file changes nothing
    assert db.copy().names("ko")["products"] == {"water bottle": "물병"}


def test_arguments_are_checked_against_the_schema(db):
    desk = Desk(db, confirm=_yes)
    assert desk.call("drop_tables", {}).startswith("Error: unknown tool 'drop_tables'")
    assert desk.call("find_user_id_by_email", {"mail": "x"}) == "Error: missing 'email'; unexpected 'mail'"
    assert desk.call("find_user_id_by_email", {"email": 3}) == "Error: 'email' must be a string"
    desk.call("find_user_id_by_email", {"email": "omar.lopez1868@example.com"})
    assert desk.call("cancel_pending_order", {"order_id": "#W7273336", "reason": "bored"}).startswith(
        "Error: 'reason' must be one of")
    assert all(t["parameters"]["type"] == "object" for t in TOOLS)


def test_after_a_handoff_the_agent_stops(db):
    desk = Desk(db, confirm=_yes)
    assert desk.call("transfer_to_human_agents", {"summary": "wants a person"}) == "Transfer successful"
    assert desk.call("find_user_id_by_email", {"email": "omar.lopez1868@example.com"}).startswith(
        "Error: the conversation was handed")


@pytest.mark.parametrize(("expression", "value"), [
    ("2 + 2", "4.0"), ("(10 - 2.5) * 2", "15.0"), ("-3 + 1", "-2.0"), ("100 / 3", "33.33"),
    ("1 / 0", "Error: float division by zero"), ("__import__('os')", "Error: invalid characters in expression"),
    ("2 +", "Error: could not convert string to float: ''"),
])
def test_calculate_without_eval(expression, value):
    assert calculate(expression) == value
