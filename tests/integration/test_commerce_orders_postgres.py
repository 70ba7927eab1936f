"""A shop's order database in PostgreSQL (one schema per shop, shared by server replicas) behaves as the SQLite
one: every τ-bench gold write of the 520 tasks, run in the same order on both, gives the same result string,
the same audit rows and the same final shop; refusals, failed loads and the append-only audit hold there too."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from inhouse.apps.commerce.orders import OrderDB, open_shop
from inhouse.apps.commerce.tau import load_shop, load_tasks
from inhouse.dbfile import namespace
from inhouse.errors import InputError, NotFoundError
from tests.conftest import TAU_RETAIL, require

TAU = require(TAU_RETAIL)


@pytest.fixture(scope="module")
def shop():
    return load_shop(TAU)


def test_the_same_writes_give_the_same_results_on_both_backends(shop, postgres_url, tmp_path):
    lite = OrderDB(tmp_path / "orders.sqlite")
    pg = OrderDB.on_postgres(postgres_url, "shop_acme")
    for db in (lite, pg):
        assert db.load(*shop) == {"users": 500, "orders": 1000, "products": 50}
    assert pg.export() == {"users": shop[0], "orders": shop[1], "products": shop[2]}
    writes = refused = 0
    for task in load_tasks(TAU, "train") + load_tasks(TAU, "dev"):
        for action in task.actions:
            if action.name.startswith(("find_", "get_", "list_")) or action.name in (
                    "transfer_to_human_agents", "calculate", "think"):
                continue
            ours = [db.write(action.name, action.kwargs, session=f"task-{task.index}") for db in (lite, pg)]
            assert ours[0] == ours[1], (task.index, action.name)
            writes += 1
            refused += ours[0].startswith("Error")
    assert writes > 500 and writes - refused > 300  # most still apply: the tasks touch different customers
    assert pg.export() == lite.export()
    strip = [[{k: v for k, v in row.items() if k not in ("id", "ts")} for row in db.audit()] for db in (lite, pg)]
    assert strip[0] == strip[1] and len(strip[1]) == writes + 1
    pg.close()
    lite.close()


def test_refusals_failed_loads_and_the_audit_log_on_postgres(shop, postgres_url):
    import psycopg

    users, orders, products = shop
    db = OrderDB.on_postgres(postgres_url, "shop_acme")
    db.load(users, orders, products)
    before = db.export()
    delivered = next(o for o, v in orders.items() if v["status"] == "delivered")
    out = db.write("cancel_pending_order", {"order_id": delivered, "reason": "no longer needed"}, session="s1")
    assert out == "Error: non-pending order cannot be cancelled"
    assert db.export() == before
    (row,) = db.audit(session="s1")
    assert (row["action"], row["outcome"]) == ("cancel_pending_order", "refused")
    with pytest.raises(InputError, match="already holds"):
        db.load(users, orders, products)
    broken = copy.deepcopy(orders)
    broken[next(iter(broken))]["user_id"] = "nobody_0"
    with pytest.raises(InputError, match="orders\\[#W"):
        db.load(users, broken, products, replace=True)
    assert db.export() == before  # the failed load rolled back whole
    for sql in ("DELETE FROM audit", "UPDATE audit SET outcome = 'ok'", "TRUNCATE audit"):
        with pytest.raises(psycopg.DatabaseError, match="append-only"), db.transaction() as c:
            c.execute(sql)
    assert [r["action"] for r in db.audit()][:1] == ["load"]
    # the shop's names in Korean, replaced whole per language (an upsert on both backends)
    assert db.load_names({"products": {"Water Bottle": "물병"}, "values": {"red": "빨간색"}}, "ko") == 2
    assert db.load_names({"products": {"Water Bottle": "보틀"}}, "ko") == 1
    assert db.names("ko") == {"products": {"water bottle": "보틀"}, "options": {}, "values": {}}
    # a proposal is settled once, whichever replica asks first
    db.propose("agent", "s2", "omar_lopez_3107", "p1", "cancel_pending_order", {"order_id": "#W1"}, "cancel")
    other = OrderDB.on_postgres(postgres_url, "shop_acme")
    assert [db.claim_proposal("p1"), other.claim_proposal("p1")] == [True, False]
    other.close()
    db.close()


def test_shops_are_apart_and_open_shop_follows_database_url(shop, postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("INHOUSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INHOUSE_DATABASE_URL", postgres_url)
    with pytest.raises(NotFoundError, match="no order database in PostgreSQL"):
        open_shop("acme")
    env = os.environ | {"INHOUSE_HOME": str(tmp_path / "home"), "INHOUSE_DATABASE_URL": postgres_url}
    done = subprocess.run([sys.executable, "-m", "inhouse.cli.main", "commerce", "load", "--tenant", "acme",
                           str(TAU), "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["orders"] == 1000
    assert not (tmp_path / "home" / "commerce" / "acme" / "orders.sqlite").exists()
    acme = open_shop("acme")
    assert acme.location.startswith("schema shop_acme of PostgreSQL")
    assert acme.user("omar_lopez_3107") == shop[0]["omar_lopez_3107"]
    with pytest.raises(NotFoundError):
        open_shop("globex")  # another shop sees nothing of acme's
    globex = open_shop("globex", create=True)
    assert globex.is_empty()
    for db in (acme, globex):
        db.close()


def test_schema_names():
    assert namespace("shop", "acme") == "shop_acme"
    long, odd = namespace("shop", "a" * 64), namespace("shop", "Acme.Corp")
    assert len(long.encode()) <= 63 and long != namespace("shop", "a" * 63)
    assert odd.startswith("shop-acme_corp-") and odd != namespace("shop", "acme.corp")
    hashed = namespace("shop", "Acme")  # a hashed name is never another tenant's plain one
    assert hashed not in {namespace("shop", hashed[len("shop_"):]), namespace("shop", hashed.replace("-", "_")[5:])}


def test_writers_to_one_shop_take_turns(postgres_url):
    """Read, check, write: on PostgreSQL as under SQLite's BEGIN IMMEDIATE, a second writer to the same shop waits
    for the first to commit (a gift card cannot be spent twice by two conversations at once); other shops do not
    wait."""
    import threading
    import time

    a, b = OrderDB.on_postgres(postgres_url, "shop_acme"), OrderDB.on_postgres(postgres_url, "shop_acme")
    other = OrderDB.on_postgres(postgres_url, "shop_globex")
    held, order = threading.Event(), []

    def first() -> None:
        with a.transaction():
            held.set()
            time.sleep(0.6)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    t0 = time.monotonic()
    with other.transaction():
        order.append("other shop")
    assert time.monotonic() - t0 < 0.4
    with b.transaction():
        order.append("second")
    thread.join()
    assert order == ["other shop", "first done", "second"]
    for db in (a, b, other):
        db.close()
