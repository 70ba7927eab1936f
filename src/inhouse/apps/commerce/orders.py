"""A shop's order database: users, payment methods, products and their variants, orders with items,
fulfillments (shipments), payments and refunds, return/exchange requests — and its audit trail.

SQLite by default (one file per shop tenant, WAL). Every write is one transaction that also appends its
audit row: the change and its record commit together or not at all. Triggers make the audit table
append-only, so no code path can rewrite what was done.

The import format is τ-bench retail's (`users.json`, `orders.json`, `products.json`), and `export()` gives
the same shape back, so the database can be checked against τ-bench's own tools action for action
(`tests/integration/test_commerce_orders.py`). The write operations keep τ-bench's rules and messages: an
agent sees "Error: non-pending order cannot be cancelled", never a traceback.
"""

from __future__ import annotations

import inspect
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from inhouse.apps.commerce.shopdb import ShopDB
from inhouse.config import load_settings, tenant_dir
from inhouse.dbfile import namespace
from inhouse.errors import InputError, NotFoundError
from inhouse.store.pgdb import append_only

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT NOT NULL,
  address TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS users_email ON users (lower(email));
CREATE INDEX IF NOT EXISTS users_name_zip ON users (lower(first_name), lower(last_name));
CREATE TABLE IF NOT EXISTS payment_methods (
  id TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(user_id),
  source TEXT NOT NULL CHECK (source IN ('credit_card', 'gift_card', 'paypal')),
  balance REAL, brand TEXT, last_four TEXT, seq INTEGER NOT NULL, PRIMARY KEY (user_id, id));
CREATE TABLE IF NOT EXISTS products (product_id TEXT PRIMARY KEY, name TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS variants (
  item_id TEXT PRIMARY KEY, product_id TEXT NOT NULL REFERENCES products(product_id), options TEXT NOT NULL,
  available INTEGER NOT NULL, price REAL NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
  order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id), status TEXT NOT NULL,
  address TEXT NOT NULL, cancel_reason TEXT, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, seq);
CREATE TABLE IF NOT EXISTS order_items (
  order_id TEXT NOT NULL REFERENCES orders(order_id), pos INTEGER NOT NULL, item_id TEXT NOT NULL,
  product_id TEXT NOT NULL, name TEXT NOT NULL, price REAL NOT NULL, options TEXT NOT NULL,
  PRIMARY KEY (order_id, pos));
CREATE TABLE IF NOT EXISTS fulfillments (
  order_id TEXT NOT NULL REFERENCES orders(order_id), pos INTEGER NOT NULL, tracking_ids TEXT NOT NULL,
  item_ids TEXT NOT NULL, PRIMARY KEY (order_id, pos));
CREATE TABLE IF NOT EXISTS payments (
  order_id TEXT NOT NULL REFERENCES orders(order_id), pos INTEGER NOT NULL,
  transaction_type TEXT NOT NULL CHECK (transaction_type IN ('payment', 'refund')), amount REAL NOT NULL,
  payment_method_id TEXT NOT NULL, PRIMARY KEY (order_id, pos));
CREATE TABLE IF NOT EXISTS order_requests (
  order_id TEXT PRIMARY KEY REFERENCES orders(order_id), kind TEXT NOT NULL CHECK (kind IN ('return', 'exchange')),
  items TEXT NOT NULL, new_items TEXT, payment_method_id TEXT NOT NULL, price_difference REAL);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL, session TEXT NOT NULL,
  action TEXT NOT NULL, args TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS names (
  kind TEXT NOT NULL CHECK (kind IN ('products', 'options', 'values')), term TEXT NOT NULL, lang TEXT NOT NULL,
  name TEXT NOT NULL, PRIMARY KEY (kind, term, lang));
CREATE TABLE IF NOT EXISTS proposals (
  id TEXT PRIMARY KEY, session TEXT NOT NULL, seq INTEGER NOT NULL, user_id TEXT NOT NULL, tool TEXT NOT NULL,
  args TEXT NOT NULL, summary TEXT NOT NULL, ts REAL NOT NULL, result TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('pending', 'settling', 'committed', 'declined', 'failed')));
CREATE INDEX IF NOT EXISTS proposals_session ON proposals (session, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# The same tables in PostgreSQL (`OrderDB.on_postgres`: one schema per shop; numbers as double precision, the
# audit log append-only by trigger on UPDATE, DELETE and TRUNCATE).
PG_SCHEMA = (SCHEMA.split("CREATE TRIGGER")[0]
             .replace("IF NOT EXISTS ", "")
             .replace(" REAL", " DOUBLE PRECISION")
             .replace("id INTEGER PRIMARY KEY AUTOINCREMENT", "id BIGSERIAL PRIMARY KEY")
             .replace(" INTEGER", " BIGINT")) + append_only("audit")

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
NAME_KINDS = ("products", "options", "values")
_ADDRESS_FIELDS = ("address1", "address2", "city", "country", "state", "zip")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: missing field {key!r}. Each record needs the fields of τ-bench retail's "
                         "users.json / orders.json / products.json.")
    return obj[key]


def _address(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: the address must be an object with {', '.join(_ADDRESS_FIELDS)}.")
    return {k: str(_need(value, k, where)) for k in _ADDRESS_FIELDS}


class OrderDB(ShopDB):
    """One shop's orders in SQLite, or in PostgreSQL (`OrderDB.on_postgres`). Thread-safe: one connection,
    serialised by a lock."""

    SCHEMA = SCHEMA
    PG_SCHEMA = PG_SCHEMA
    WHAT = "order database"
    REBUILD = "load the shop's data again with `inhouse commerce load`"

    def copy(self, path: Path | str = ":memory:") -> OrderDB:
        """A consistent copy of the whole database (SQLite's online backup), e.g. a fresh shop per benchmark
        trial or a backup file; this one stays usable meanwhile."""
        if self._pg is not None:
            raise InputError("copy() takes a consistent copy of the SQLite file; copy a PostgreSQL shop with "
                             "pg_dump --schema.")
        target = OrderDB(path)
        with self._lock:
            self._conn.backup(target._conn)
        return target

    # ---- loading -------------------------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self._rows("SELECT 1 FROM users LIMIT 1") and not self._rows("SELECT 1 FROM products LIMIT 1")

    def load(self, users: dict, orders: dict, products: dict, replace: bool = False) -> dict[str, int]:
        """Import a shop's data (τ-bench retail shape) in one transaction: all of it or, on any bad record,
        none of it. An existing database is kept unless `replace`."""
        for name, value in (("users", users), ("orders", orders), ("products", products)):
            if not isinstance(value, dict):
                raise InputError(f"{name}: expected an object keyed by id, got {type(value).__name__}.")
        with self.transaction() as c:
            if not self.is_empty():
                if not replace:
                    raise InputError(f"{self.location} already holds a shop's orders; pass --replace to load "
                                     "over them.")
                for table in ("order_requests", "payments", "fulfillments", "order_items", "orders", "variants",
                              "products", "payment_methods", "users"):
                    c.execute(f"DELETE FROM {table}")
            for seq, (pid, p) in enumerate(products.items()):
                where = f"products[{pid}]"
                c.execute("INSERT INTO products VALUES (?,?,?)", (pid, str(_need(p, "name", where)), seq))
                for vseq, (iid, v) in enumerate(_need(p, "variants", where).items()):
                    c.execute("INSERT INTO variants VALUES (?,?,?,?,?,?)",
                              (iid, pid, _dumps(_need(v, "options", where)), int(bool(_need(v, "available", where))),
                               float(_need(v, "price", where)), vseq))
            for seq, (uid, u) in enumerate(users.items()):
                where = f"users[{uid}]"
                name = _need(u, "name", where)
                c.execute("INSERT INTO users VALUES (?,?,?,?,?,?)",
                          (uid, str(_need(name, "first_name", where)), str(_need(name, "last_name", where)),
                           str(_need(u, "email", where)), _dumps(_address(_need(u, "address", where), where)), seq))
                for mseq, (mid, m) in enumerate(_need(u, "payment_methods", where).items()):
                    source = _need(m, "source", where)
                    if source not in ("credit_card", "gift_card", "paypal"):
                        raise InputError(f"{where}: payment method {mid} has source {source!r}; "
                                         "use credit_card, gift_card or paypal.")
                    c.execute("INSERT INTO payment_methods VALUES (?,?,?,?,?,?,?)",
                              (mid, uid, source, m.get("balance"), m.get("brand"), m.get("last_four"), mseq))
            for seq, (oid, o) in enumerate(orders.items()):
                where = f"orders[{oid}]"
                try:
                    c.execute("INSERT INTO orders VALUES (?,?,?,?,?,?)",
                              (oid, _need(o, "user_id", where), _need(o, "status", where),
                               _dumps(_address(_need(o, "address", where), where)), o.get("cancel_reason"), seq))
                    for pos, it in enumerate(_need(o, "items", where)):
                        c.execute("INSERT INTO order_items VALUES (?,?,?,?,?,?,?)",
                                  (oid, pos, _need(it, "item_id", where), _need(it, "product_id", where),
                                   _need(it, "name", where), float(_need(it, "price", where)),
                                   _dumps(_need(it, "options", where))))
                    for pos, f in enumerate(_need(o, "fulfillments", where)):
                        c.execute("INSERT INTO fulfillments VALUES (?,?,?,?)",
                                  (oid, pos, _dumps(_need(f, "tracking_id", where)),
                                   _dumps(_need(f, "item_ids", where))))
                    for pos, pay in enumerate(_need(o, "payment_history", where)):
                        c.execute("INSERT INTO payments VALUES (?,?,?,?,?)",
                                  (oid, pos, _need(pay, "transaction_type", where), float(_need(pay, "amount", where)),
                                   _need(pay, "payment_method_id", where)))
                except self.integrity_errors as e:
                    raise InputError(f"{where}: {e} (an unknown user, a repeated id or a bad transaction type).") from e
            counts = {"users": len(users), "orders": len(orders), "products": len(products)}
            c.execute("INSERT INTO audit (ts, actor, session, action, args, outcome, detail) VALUES (?,?,?,?,?,?,?)",
                      (time.time(), "loader", "", "load", _dumps(counts), "ok", ""))
        return counts

    def load_names(self, names: Any, lang: str) -> int:
        """The shop's product names, option names and option values in the customers' language `lang` (as a
        shop shows them), e.g. {"products": {"Water Bottle": "물병"}, "options": {"color": "색상"}, "values":
        {"red": "빨간색"}}; replaces that language's names in one transaction. The agent reads a ticket in that
        language with them."""
        if not re.fullmatch(r"[a-z]{2}", lang or ""):
            raise InputError(f"language {lang!r}: give a two-letter code such as ko.")
        if not isinstance(names, dict) or not any(k in names for k in NAME_KINDS):
            raise InputError(f"names: expected an object with {', '.join(NAME_KINDS)}, each mapping the shop's "
                             "term to its name in the language.")
        rows = []
        for kind in NAME_KINDS:
            table = names.get(kind, {})
            if not isinstance(table, dict):
                raise InputError(f"names[{kind!r}]: expected an object mapping terms to names.")
            for term, name in table.items():
                if not isinstance(name, str) or not name.strip() or not str(term).strip():
                    raise InputError(f"names[{kind!r}][{term!r}]: a name must be non-empty text.")
                rows.append((kind, str(term).strip().casefold(), lang, name.strip()))
        with self.transaction() as c:
            c.execute("DELETE FROM names WHERE lang = ?", (lang,))
            c.executemany("INSERT INTO names VALUES (?,?,?,?) ON CONFLICT (kind, term, lang) DO UPDATE "
                          "SET name = excluded.name", rows)
        return len(rows)

    def names(self, lang: str) -> dict[str, dict[str, str]]:
        """{kind: {term (casefolded): name}} in `lang`; empty tables when the shop has none."""
        out: dict[str, dict[str, str]] = {k: {} for k in NAME_KINDS}
        for kind, term, name in self._rows("SELECT kind, term, name FROM names WHERE lang = ?", (lang,)):
            out[kind][term] = name
        return out

    # ---- reads (the τ-bench shapes) ------------------------------------------------------------------------

    def user(self, user_id: str) -> dict | None:
        rows = self._rows("SELECT first_name, last_name, email, address FROM users WHERE user_id = ?", (user_id,))
        if not rows:
            return None
        first, last, email, address = rows[0]
        methods = {}
        for mid, source, balance, brand, last_four in self._rows(
                "SELECT id, source, balance, brand, last_four FROM payment_methods WHERE user_id = ? ORDER BY seq",
                (user_id,)):
            m: dict[str, Any] = {"source": source}
            if source == "gift_card":
                m["balance"] = balance
            if source == "credit_card":
                m["brand"], m["last_four"] = brand, last_four
            m["id"] = mid
            methods[mid] = m
        orders = [r[0] for r in self._rows("SELECT order_id FROM orders WHERE user_id = ? ORDER BY seq", (user_id,))]
        return {"name": {"first_name": first, "last_name": last}, "address": json.loads(address), "email": email,
                "payment_methods": methods, "orders": orders}

    def order(self, order_id: str) -> dict | None:
        rows = self._rows("SELECT user_id, status, address, cancel_reason FROM orders WHERE order_id = ?", (order_id,))
        if not rows:
            return None
        user_id, status, address, cancel_reason = rows[0]
        order: dict[str, Any] = {
            "order_id": order_id, "user_id": user_id, "address": json.loads(address),
            "items": [{"name": n, "product_id": p, "item_id": i, "price": pr, "options": json.loads(op)}
                      for i, p, n, pr, op in self._rows(
                          "SELECT item_id, product_id, name, price, options FROM order_items WHERE order_id = ? "
                          "ORDER BY pos", (order_id,))],
            "fulfillments": [{"tracking_id": json.loads(t), "item_ids": json.loads(i)} for t, i in self._rows(
                "SELECT tracking_ids, item_ids FROM fulfillments WHERE order_id = ? ORDER BY pos", (order_id,))],
            "status": status,
            "payment_history": [{"transaction_type": t, "amount": a, "payment_method_id": m} for t, a, m in self._rows(
                "SELECT transaction_type, amount, payment_method_id FROM payments WHERE order_id = ? ORDER BY pos",
                (order_id,))],
        }
        if cancel_reason is not None:
            order["cancel_reason"] = cancel_reason
        for kind, items, new_items, method, diff in self._rows(
                "SELECT kind, items, new_items, payment_method_id, price_difference FROM order_requests "
                "WHERE order_id = ?", (order_id,)):
            order[f"{kind}_items"] = json.loads(items)
            if kind == "exchange":
                order["exchange_new_items"] = json.loads(new_items)
            order[f"{kind}_payment_method_id"] = method
            if kind == "exchange":
                order["exchange_price_difference"] = diff
        return order

    def product(self, product_id: str) -> dict | None:
        rows = self._rows("SELECT name FROM products WHERE product_id = ?", (product_id,))
        if not rows:
            return None
        variants = {i: {"item_id": i, "options": json.loads(o), "available": bool(a), "price": p}
                    for i, o, a, p in self._rows("SELECT item_id, options, available, price FROM variants "
                                                 "WHERE product_id = ? ORDER BY seq", (product_id,))}
        return {"name": rows[0][0], "product_id": product_id, "variants": variants}

    def product_types(self) -> dict[str, str]:
        """Product name → product id, sorted by name (a name kept once: the last id wins, as in τ-bench)."""
        types = {n: p for p, n in self._rows("SELECT product_id, name FROM products ORDER BY seq")}
        return dict(sorted(types.items()))

    def find_user_by_email(self, email: str) -> str | None:
        rows = self._rows("SELECT user_id FROM users WHERE lower(email) = lower(?) ORDER BY seq LIMIT 1", (email,))
        return rows[0][0] if rows else None

    def find_user_by_name_zip(self, first_name: str, last_name: str, zip_code: str) -> str | None:
        for uid, address in self._rows(
                "SELECT user_id, address FROM users WHERE lower(first_name) = lower(?) AND lower(last_name) = lower(?) "
                "ORDER BY seq", (first_name, last_name)):
            if json.loads(address)["zip"] == zip_code:
                return uid
        return None

    def export(self) -> dict[str, dict]:
        """The whole shop in τ-bench's shape (users, orders, products), e.g. to compare states."""
        return {"users": {u: self.user(u) for (u,) in self._rows("SELECT user_id FROM users ORDER BY seq")},
                "orders": {o: self.order(o) for (o,) in self._rows("SELECT order_id FROM orders ORDER BY seq")},
                "products": {p: self.product(p) for (p,) in self._rows("SELECT product_id FROM products ORDER BY seq")}}

    def audit(self, session: str | None = None) -> list[dict]:
        sql, args = "SELECT id, ts, actor, session, action, args, outcome, detail FROM audit", ()
        if session is not None:
            sql, args = sql + " WHERE session = ?", (session,)
        return [{"id": i, "ts": ts, "actor": a, "session": s, "action": act, "args": json.loads(ar), "outcome": o,
                 "detail": d} for i, ts, a, s, act, ar, o, d in self._rows(sql + " ORDER BY id", args)]

    def record(self, actor: str, session: str, action: str, args: dict, outcome: str, detail: str = "") -> None:
        """Append an audit row on its own (reads, refusals); writes record theirs inside their transaction."""
        with self.transaction() as c:
            self._audit(c, actor, session, action, args, outcome, detail)

    @staticmethod
    def _audit(c: sqlite3.Connection, actor: str, session: str, action: str, args: dict, outcome: str,
               detail: str) -> None:
        c.execute("INSERT INTO audit (ts, actor, session, action, args, outcome, detail) VALUES (?,?,?,?,?,?,?)",
                  (time.time(), actor, session, action, _dumps(args), outcome, detail))

    # ---- proposals: writes waiting for the customer's yes (Desk(defer=True)) -----------------------------

    def propose(self, actor: str, session: str, user_id: str, proposal_id: str, tool: str, args: dict,
                summary: str) -> None:
        """Keep a proposed write for the customer's answer; audited "proposed" in the same transaction."""
        with self.transaction() as c:
            seq = c.execute("SELECT count(*) FROM proposals WHERE session = ?", (session,)).fetchone()[0]
            c.execute("INSERT INTO proposals (id, session, seq, user_id, tool, args, summary, ts, status) "
                      "VALUES (?,?,?,?,?,?,?,?,'pending')",
                      (proposal_id, session, seq, user_id, tool, _dumps(args), summary, time.time()))
            self._audit(c, actor, session, tool, args, "proposed", proposal_id)

    def proposals(self, session: str) -> list[dict]:
        return [{"id": i, "seq": q, "user_id": u, "tool": t, "args": json.loads(a), "summary": m, "status": st,
                 "result": r}
                for i, q, u, t, a, m, st, r in self._rows(
                    "SELECT id, seq, user_id, tool, args, summary, status, result FROM proposals WHERE session = ? "
                    "ORDER BY seq", (session,))]

    def claim_proposal(self, proposal_id: str) -> bool:
        """Take a pending proposal to settle it; False when another request took it first."""
        with self.transaction() as c:
            return c.execute("UPDATE proposals SET status = 'settling' WHERE id = ? AND status = 'pending'",
                             (proposal_id,)).rowcount == 1

    def settle_proposal(self, proposal_id: str, status: str, result: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE proposals SET status = ?, result = ? WHERE id = ?", (status, result, proposal_id))

    # ---- writes: τ-bench's rules; each one transaction with its audit row ----------------------------------

    def write(self, action: str, args: dict, actor: str = "agent", session: str = "") -> str:
        """Run one write operation by name; returns τ-bench's result string (the order or user as JSON, or
        "Error: …"). The change and its audit row commit together; an error changes nothing."""
        ops = {"cancel_pending_order": self._cancel, "modify_pending_order_address": self._order_address,
               "modify_pending_order_items": self._modify_items, "modify_pending_order_payment": self._payment,
               "return_delivered_order_items": self._return, "exchange_delivered_order_items": self._exchange,
               "modify_user_address": self._user_address}
        if action not in ops:
            raise InputError(f"unknown write {action!r}; one of {', '.join(ops)}.")
        op = ops[action]
        try:
            inspect.signature(op).bind(None, **args)
        except TypeError as e:
            raise InputError(f"bad arguments for {action}: {e}.") from e
        with self.transaction() as c:
            c.execute("SAVEPOINT op")
            try:
                result = op(c, **args)
                c.execute("RELEASE op")
            except _Refused as e:  # nothing is changed; the refusal is still recorded
                c.execute("ROLLBACK TO op")
                c.execute("RELEASE op")
                result = f"Error: {e}"
            ok = not result.startswith("Error")
            self._audit(c, actor, session, action, args, "ok" if ok else "refused", "" if ok else result)
        return result

    def _order_for_write(self, order_id: str, status: str, verb: str) -> dict:
        order = self.order(order_id)
        if order is None:
            raise _Refused("order not found")
        if order["status"] != status:
            raise _Refused(f"non-{status} order cannot be {verb}")
        return order

    def _method(self, user_id: str, method_id: str) -> dict:
        methods = self.user(user_id)["payment_methods"]  # type: ignore[index]
        if method_id not in methods:
            raise _Refused("payment method not found")
        return methods[method_id]

    @staticmethod
    def _set_balance(c: sqlite3.Connection, user_id: str, method_id: str, balance: float) -> None:
        c.execute("UPDATE payment_methods SET balance = ? WHERE user_id = ? AND id = ?", (balance, user_id, method_id))

    @staticmethod
    def _add_payment(c: sqlite3.Connection, order: dict, kind: str, amount: float, method_id: str) -> None:
        pos = len(order["payment_history"])
        c.execute("INSERT INTO payments VALUES (?,?,?,?,?)", (order["order_id"], pos, kind, amount, method_id))
        order["payment_history"].append({"transaction_type": kind, "amount": amount, "payment_method_id": method_id})

    @staticmethod
    def _check_items(order: dict, item_ids: list[str], message: str = "{item} not found") -> None:
        present = [item["item_id"] for item in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > present.count(item_id):
                raise _Refused(message.format(item=item_id))

    def _price_difference(self, order: dict, item_ids: list[str], new_item_ids: list[str]) -> float:
        if len(item_ids) != len(new_item_ids):
            raise _Refused("the number of items to be exchanged should match")
        diff: float = 0
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            item = next(i for i in order["items"] if i["item_id"] == item_id)
            variants = self.product(item["product_id"])["variants"]  # type: ignore[index]
            if new_item_id not in variants or not variants[new_item_id]["available"]:
                raise _Refused(f"new item {new_item_id} not found or available")
            diff += variants[new_item_id]["price"] - item["price"]
        return diff

    def _cancel(self, c: sqlite3.Connection, order_id: str, reason: str) -> str:
        order = self._order_for_write(order_id, "pending", "cancelled")
        if reason not in CANCEL_REASONS:
            raise _Refused("invalid reason")
        for pay in list(order["payment_history"]):
            self._add_payment(c, order, "refund", pay["amount"], pay["payment_method_id"])
            if "gift_card" in pay["payment_method_id"]:  # gift cards are refunded at once
                method = self._method(order["user_id"], pay["payment_method_id"])
                self._set_balance(c, order["user_id"], method["id"], round(method["balance"] + pay["amount"], 2))
        c.execute("UPDATE orders SET status = 'cancelled', cancel_reason = ? WHERE order_id = ?", (reason, order_id))
        return _dumps(self._reread(c, order_id))

    def _order_address(self, c: sqlite3.Connection, order_id: str, address1: str, address2: str, city: str,
                       state: str, country: str, zip: str) -> str:
        self._order_for_write(order_id, "pending", "modified")
        address = {"address1": address1, "address2": address2, "city": city, "state": state, "country": country,
                   "zip": zip}
        c.execute("UPDATE orders SET address = ? WHERE order_id = ?", (_dumps(address), order_id))
        return _dumps(self._reread(c, order_id))

    def _user_address(self, c: sqlite3.Connection, user_id: str, address1: str, address2: str, city: str,
                      state: str, country: str, zip: str) -> str:
        if self.user(user_id) is None:
            raise _Refused("user not found")
        address = {"address1": address1, "address2": address2, "city": city, "state": state, "country": country,
                   "zip": zip}
        c.execute("UPDATE users SET address = ? WHERE user_id = ?", (_dumps(address), user_id))
        return _dumps(self.user(user_id))

    def _modify_items(self, c: sqlite3.Connection, order_id: str, item_ids: list[str], new_item_ids: list[str],
                      payment_method_id: str) -> str:
        order = self._order_for_write(order_id, "pending", "modified")
        self._check_items(order, item_ids)
        diff = self._price_difference(order, item_ids, new_item_ids)
        method = self._method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise _Refused("insufficient gift card balance to pay for the new item")
        self._add_payment(c, order, "payment" if diff > 0 else "refund", abs(diff), payment_method_id)
        if method["source"] == "gift_card":
            self._set_balance(c, order["user_id"], payment_method_id, round(method["balance"] - diff, 2))
        for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
            pos = next(p for p, i in enumerate(order["items"]) if i["item_id"] == item_id)
            item = order["items"][pos]
            variant = self.product(item["product_id"])["variants"][new_item_id]  # type: ignore[index]
            item.update(item_id=new_item_id, price=variant["price"], options=variant["options"])
            c.execute("UPDATE order_items SET item_id = ?, price = ?, options = ? WHERE order_id = ? AND pos = ?",
                      (new_item_id, variant["price"], _dumps(variant["options"]), order_id, pos))
        c.execute("UPDATE orders SET status = 'pending (item modified)' WHERE order_id = ?", (order_id,))
        return _dumps(self._reread(c, order_id))

    def _payment(self, c: sqlite3.Connection, order_id: str, payment_method_id: str) -> str:
        order = self._order_for_write(order_id, "pending", "modified")
        method = self._method(order["user_id"], payment_method_id)
        history = order["payment_history"]
        if len(history) > 1 or history[0]["transaction_type"] != "payment":
            raise _Refused("there should be exactly one payment for a pending order")
        old_id = history[0]["payment_method_id"]
        if old_id == payment_method_id:
            raise _Refused("the new payment method should be different from the current one")
        amount = history[0]["amount"]
        if method["source"] == "gift_card" and method["balance"] < amount:
            raise _Refused("insufficient gift card balance to pay for the order")
        self._add_payment(c, order, "payment", amount, payment_method_id)
        self._add_payment(c, order, "refund", amount, old_id)
        if method["source"] == "gift_card":
            self._set_balance(c, order["user_id"], payment_method_id, round(method["balance"] - amount, 2))
        if "gift_card" in old_id:
            old = self._method(order["user_id"], old_id)
            self._set_balance(c, order["user_id"], old_id, round(old["balance"] + amount, 2))
        return _dumps(self._reread(c, order_id))

    def _return(self, c: sqlite3.Connection, order_id: str, item_ids: list[str], payment_method_id: str) -> str:
        order = self._order_for_write(order_id, "delivered", "returned")
        self._method(order["user_id"], payment_method_id)
        original = order["payment_history"][0]["payment_method_id"]
        if "gift_card" not in payment_method_id and payment_method_id != original:
            raise _Refused("payment method should be either the original payment method or a gift card")
        self._check_items(order, item_ids, "some item not found")
        c.execute("INSERT INTO order_requests VALUES (?,?,?,?,?,?)",
                  (order_id, "return", _dumps(sorted(item_ids)), None, payment_method_id, None))
        c.execute("UPDATE orders SET status = 'return requested' WHERE order_id = ?", (order_id,))
        return _dumps(self._reread(c, order_id))

    def _exchange(self, c: sqlite3.Connection, order_id: str, item_ids: list[str], new_item_ids: list[str],
                  payment_method_id: str) -> str:
        order = self._order_for_write(order_id, "delivered", "exchanged")
        self._check_items(order, item_ids)
        diff = round(self._price_difference(order, item_ids, new_item_ids), 2)
        method = self._method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise _Refused("insufficient gift card balance to pay for the price difference")
        c.execute("INSERT INTO order_requests VALUES (?,?,?,?,?,?)",
                  (order_id, "exchange", _dumps(sorted(item_ids)), _dumps(sorted(new_item_ids)), payment_method_id,
                   diff))
        c.execute("UPDATE orders SET status = 'exchange requested' WHERE order_id = ?", (order_id,))
        return _dumps(self._reread(c, order_id))

    def _reread(self, c: sqlite3.Connection, order_id: str) -> dict:
        return self.order(order_id)  # type: ignore[return-value]  # same connection: sees this transaction's writes


def open_shop(tenant: str, create: bool = False, base: Path | None = None, url: str | None = None) -> OrderDB:
    """The tenant's order database: `home()/commerce/<tenant>/orders.sqlite` (under `base` if given), or, with a
    PostgreSQL `url` (default: the `database_url` setting), its schema `shop_<tenant>`, shared by every replica."""
    path = tenant_dir("commerce", tenant, base) / "orders.sqlite"  # checks the name
    url = (load_settings(base).database_url if url is None else url).strip()
    if url:
        ns = namespace("shop", tenant)
        if not create:
            from inhouse.store.postgres import has_table

            if not has_table(url, ns, "orders"):
                raise NotFoundError(f"tenant {tenant} has no order database in PostgreSQL; load one with "
                                    f"`inhouse commerce load --tenant {tenant} FOLDER`.")
        return OrderDB.on_postgres(url, ns)
    if not create and not path.exists():
        raise NotFoundError(f"tenant {tenant} has no order database; load one with "
                            f"`inhouse commerce load --tenant {tenant} FOLDER`.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return OrderDB(path)


class _Refused(Exception):
    """A write the shop's rules refuse; its message is what the agent is told after "Error: "."""
