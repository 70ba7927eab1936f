"""The service desk: the tools an inquiry agent may call over a shop's order database, and the rules no
model output can get around.

One `Desk` is one conversation with one customer:
- Identity first. Until `find_user_id_by_email` or `find_user_id_by_name_zip` has found the customer, every
  other lookup or change is refused. Once found, the conversation belongs to that customer: another
  customer's profile, orders or payment methods are refused (and their existence is not revealed).
- Arguments are checked against each tool's JSON schema before anything runs.
- Every write is confirmed before it commits: the desk shows the customer what will change (`Proposal`)
  and runs it only on a yes from `confirm`. A declined proposal changes nothing.
- Every call (reads, refusals, writes, hand-offs to a human) is in the database's append-only audit log,
  writes inside their own transaction.

The tool names, parameters and results are τ-bench retail's (MIT), so its tasks measure the agent.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from inhouse.apps.commerce.orders import CANCEL_REASONS, OrderDB
from inhouse.errors import InputError, NotFoundError

_ORDER = {"type": "string", "description": "The order id, such as '#W0000000' (with the leading '#')."}
_ITEMS = {"type": "array", "items": {"type": "string"}, "description": "Item ids such as '1008292230'; repeat an id "
          "to act on two of the same item."}
_PAYMENT = {"type": "string", "description": "A payment method id of this customer, such as 'gift_card_0000000' or "
            "'credit_card_0000000'."}
_ADDRESS = {k: {"type": "string"} for k in ("address1", "address2", "city", "state", "country", "zip")}


def _tool(name: str, kind: str, description: str, properties: dict | None = None) -> dict:
    properties = properties or {}
    return {"name": name, "kind": kind, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": list(properties),
                           "additionalProperties": False}}


TOOLS: list[dict] = [
    _tool("find_user_id_by_email", "identity", "Find the customer's user id by email. Always the first step.",
          {"email": {"type": "string"}}),
    _tool("find_user_id_by_name_zip", "identity", "Find the customer's user id by first name, last name and zip "
          "code, when the customer has no email to give.",
          {"first_name": {"type": "string"}, "last_name": {"type": "string"}, "zip": {"type": "string"}}),
    _tool("get_user_details", "read", "The customer's profile: address, payment methods, order ids.",
          {"user_id": {"type": "string"}}),
    _tool("get_order_details", "read", "An order's status, items (with item ids and options), payments and "
          "shipments.", {"order_id": _ORDER}),
    _tool("get_product_details", "read", "A product's variants: item ids, options, availability, prices.",
          {"product_id": {"type": "string"}}),
    _tool("list_all_product_types", "read", "Every product name with its product id."),
    _tool("cancel_pending_order", "write", "Cancel a pending order and refund it (gift cards at once, other "
          "methods in 5-7 business days).",
          {"order_id": _ORDER, "reason": {"type": "string", "enum": list(CANCEL_REASONS)}}),
    _tool("modify_pending_order_address", "write", "Change the shipping address of a pending order.",
          {"order_id": _ORDER, **_ADDRESS}),
    _tool("modify_pending_order_items", "write", "Change items of a pending order to other options of the same "
          "product, all at once (only once per order); the price difference is paid or refunded with the "
          "payment method.", {"order_id": _ORDER, "item_ids": _ITEMS, "new_item_ids": _ITEMS,
                              "payment_method_id": _PAYMENT}),
    _tool("modify_pending_order_payment", "write", "Pay a pending order with another of the customer's payment "
          "methods.", {"order_id": _ORDER, "payment_method_id": _PAYMENT}),
    _tool("return_delivered_order_items", "write", "Return items of a delivered order; the refund goes to the "
          "original payment method or a gift card.",
          {"order_id": _ORDER, "item_ids": _ITEMS, "payment_method_id": _PAYMENT}),
    _tool("exchange_delivered_order_items", "write", "Exchange items of a delivered order for other options of "
          "the same product, all at once (only once per order).",
          {"order_id": _ORDER, "item_ids": _ITEMS, "new_item_ids": _ITEMS, "payment_method_id": _PAYMENT}),
    _tool("modify_user_address", "write", "Change the customer's default address.",
          {"user_id": {"type": "string"}, **_ADDRESS}),
    _tool("transfer_to_human_agents", "handoff", "Hand the conversation to a person, with a summary, when the "
          "request is outside these tools or the customer asks for a person.", {"summary": {"type": "string"}}),
    _tool("calculate", "meta", "Evaluate arithmetic such as '12.5 + 3 * 2'.", {"expression": {"type": "string"}}),
]
TOOL_BY_NAME = {t["name"]: t for t in TOOLS}
WRITES = frozenset(t["name"] for t in TOOLS if t["kind"] == "write")
NOT_FOUND = "Error: not found for this customer"
DECLINED = "Error: the customer did not confirm; nothing was changed"
PENDING = "Pending: proposed to the customer, waiting for a yes"


def schema_errors(tool: dict, args: Any) -> list[str]:
    """What is wrong with `args` for `tool` (empty when nothing is): the subset of JSON Schema the tools use."""
    if not isinstance(args, dict):
        return ["arguments must be an object"]
    spec = tool["parameters"]
    errors = [f"missing {k!r}" for k in spec["required"] if k not in args]
    errors += [f"unexpected {k!r}" for k in args if k not in spec["properties"]]
    for key, value in args.items():
        prop = spec["properties"].get(key)
        if prop is None:
            continue
        if prop["type"] == "string" and not isinstance(value, str):
            errors.append(f"{key!r} must be a string")
        elif prop["type"] == "array" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            errors.append(f"{key!r} must be a list of strings")
        elif "enum" in prop and value not in prop["enum"]:
            errors.append(f"{key!r} must be one of {prop['enum']}")
    return errors


@dataclass(frozen=True)
class Proposal:
    """A write waiting for the customer's yes: what will run, and in words what it changes."""

    id: str
    tool: str
    args: dict
    summary: str


def describe(tool: str, args: dict, lang: str = "en") -> str:
    """The confirmation text a customer reads before a write, in English or Korean."""
    order = args.get("order_id", "")
    items = ", ".join(args.get("item_ids", []))
    new = ", ".join(args.get("new_item_ids", []))
    address = ", ".join(args[k] for k in ("address1", "address2", "city", "state", "zip", "country")
                        if args.get(k)) if "address1" in args else ""
    method, reason = args.get("payment_method_id"), args.get("reason")
    if lang == "ko":
        return {
            "cancel_pending_order": f"주문 {order}을(를) 취소하고(사유: {reason}) 결제 금액을 환불합니다.",
            "modify_pending_order_address": f"주문 {order}의 배송지를 {address}(으)로 바꿉니다.",
            "modify_pending_order_items": f"주문 {order}에서 품목 {items}을(를) {new}(으)로 바꾸고, 차액은 {method}"
                                          "(으)로 정산합니다. 이 변경은 한 번만 할 수 있습니다.",
            "modify_pending_order_payment": f"주문 {order}의 결제 수단을 {method}(으)로 바꿉니다.",
            "return_delivered_order_items": f"주문 {order}의 품목 {items}을(를) 반품하고 {method}(으)로 환불합니다.",
            "exchange_delivered_order_items": f"주문 {order}의 품목 {items}을(를) {new}(으)로 교환하고, 차액은 "
                                              f"{method}(으)로 정산합니다.",
            "modify_user_address": f"기본 배송지를 {address}(으)로 바꿉니다.",
        }[tool]
    return {
        "cancel_pending_order": f"Cancel order {order} (reason: {reason}) and refund its payments.",
        "modify_pending_order_address": f"Ship order {order} to {address}.",
        "modify_pending_order_items": f"In order {order}, change items {items} to {new}; the price difference "
                                      f"is settled with {method}. This can be done once.",
        "modify_pending_order_payment": f"Pay order {order} with {method} instead.",
        "return_delivered_order_items": f"Return items {items} of order {order}; refund to {method}.",
        "exchange_delivered_order_items": f"Exchange items {items} of order {order} for {new}; the price "
                                          f"difference is settled with {method}.",
        "modify_user_address": f"Change the default address to {address}.",
    }[tool]


_ARITHMETIC = re.compile(r"^[0-9+\-*/(). ]+$")


def calculate(expression: str) -> str:
    """τ-bench's calculator without `eval`: + - * / and parentheses over decimal numbers, rounded to cents."""
    if not _ARITHMETIC.match(expression or ""):
        return "Error: invalid characters in expression"
    tokens = re.findall(r"\d+\.?\d*|\.\d+|[-+*/()]", expression)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom() -> float:
        tok = take() if peek() is not None else ""
        if tok == "(":
            value = expr()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return value
        if tok in ("-", "+"):
            return -atom() if tok == "-" else atom()
        return float(tok)

    def term() -> float:
        value = atom()
        while peek() in ("*", "/"):
            value = value * atom() if take() == "*" else value / atom()
        return value

    def expr() -> float:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    try:
        value = expr()
        if pos != len(tokens):
            raise ValueError("unexpected token")
    except (ValueError, IndexError, ZeroDivisionError) as e:
        return f"Error: {e or 'bad expression'}"
    return str(round(value, 2))


class Desk:
    """One conversation with one customer over `db`. `confirm(proposal) -> bool` asks the customer; without
    it every write is declined (a read-only desk). With `defer`, writes are not asked about at once: each is
    kept as a pending proposal (in the database, audited "proposed") and answered with `PENDING`; the customer's
    yes or no comes later (`Desk.resume(db, session).settle(ids)`), as over HTTP."""

    def __init__(self, db: OrderDB, confirm: Callable[[Proposal], bool] | None = None, actor: str = "agent",
                 session: str | None = None, defer: bool = False) -> None:
        self.db = db
        self.confirm = confirm
        self.actor = actor
        self.session = session or uuid.uuid4().hex[:12]
        self.defer = defer
        self.user_id: str | None = None
        self.handed_off = False
        self.writes: list[tuple[str, dict, str]] = []
        self.proposals: list[Proposal] = []

    @classmethod
    def resume(cls, db: OrderDB, session: str, actor: str = "agent") -> Desk:
        """The conversation `session` again, with the customer it identified, to settle what it proposed."""
        rows = db.proposals(session)
        if not rows:
            raise NotFoundError(f"no conversation {session!r} with proposed changes in this shop.")
        desk = cls(db, actor=actor, session=session)
        desk.user_id = rows[0]["user_id"]
        return desk

    def settle(self, yes: Iterable[str]) -> list[dict]:
        """The customer's answer to this conversation's pending proposals: the ones in `yes` commit (in the
        order proposed, each checked again by every rule, as if asked now), the others are declined. A
        proposal is settled once; asking again changes nothing."""
        yes = set(yes)
        rows = self.db.proposals(self.session)
        unknown = yes - {r["id"] for r in rows}
        if unknown:
            raise InputError(f"no proposal {', '.join(sorted(unknown))} in conversation {self.session}; its "
                             f"proposals: {', '.join(r['id'] for r in rows)}.")
        out = []
        for r in rows:
            if r["status"] != "pending" or not self.db.claim_proposal(r["id"]):
                continue
            try:
                if r["id"] in yes:
                    self.confirm = lambda _p: True
                    try:
                        result = self.call(r["tool"], r["args"])
                    finally:
                        self.confirm = None
                    status = "failed" if result.startswith("Error") else "committed"
                else:
                    result = self._deny(r["tool"], r["args"], DECLINED, "declined")
                    status = "declined"
            except BaseException:  # nothing was decided (the database was busy, say): it waits to be asked again
                self.db.settle_proposal(r["id"], "pending", "")
                raise
            self.db.settle_proposal(r["id"], status, result)
            out.append({"id": r["id"], "tool": r["tool"], "summary": r["summary"], "status": status,
                        "result": result})
        return out

    def _deny(self, name: str, args: dict, message: str, outcome: str = "denied") -> str:
        self.db.record(self.actor, self.session, name, args, outcome, message)
        return message

    def _owns_order(self, order_id: str) -> bool:
        order = self.db.order(order_id)
        return order is not None and order["user_id"] == self.user_id

    def call(self, name: str, args: Any) -> str:
        """Run one tool call; the result (τ-bench's strings, or "Error: …") is what the agent sees next."""
        tool = TOOL_BY_NAME.get(name)
        if tool is None:
            return self._deny(name, {}, f"Error: unknown tool {name!r}; tools: {', '.join(TOOL_BY_NAME)}", "invalid")
        errors = schema_errors(tool, args)
        if errors:
            return self._deny(name, args if isinstance(args, dict) else {}, f"Error: {'; '.join(errors)}", "invalid")
        if self.handed_off:
            return self._deny(name, args, "Error: the conversation was handed to a human agent")
        kind = tool["kind"]
        if kind == "meta":
            return calculate(args["expression"])
        if kind == "handoff":
            self.handed_off = True
            self.db.record(self.actor, self.session, name, args, "handoff", args["summary"])
            return "Transfer successful"
        if kind == "identity":
            return self._identify(name, args)
        if self.user_id is None:
            return self._deny(name, args, "Error: authenticate the customer first (find_user_id_by_email, or "
                                          "find_user_id_by_name_zip)")
        if "user_id" in args and args["user_id"] != self.user_id:
            return self._deny(name, args, "Error: this conversation can only act for the authenticated customer")
        if "order_id" in args and not self._owns_order(args["order_id"]):
            return self._deny(name, args, NOT_FOUND)
        if kind == "read":
            result = self._read(name, args)
            self.db.record(self.actor, self.session, name, args, "ok" if not result.startswith("Error") else "error")
            return result
        return self._write(name, args)

    def _identify(self, name: str, args: dict) -> str:
        if name == "find_user_id_by_email":
            found = self.db.find_user_by_email(args["email"])
        else:
            found = self.db.find_user_by_name_zip(args["first_name"], args["last_name"], args["zip"])
        if found is None:
            return self._deny(name, args, "Error: user not found", "not found")
        if self.user_id is not None and found != self.user_id:
            return self._deny(name, args, "Error: this conversation is already with another customer; one "
                                          "customer per conversation")
        self.user_id = found
        self.db.record(self.actor, self.session, name, args, "ok", found)
        return found

    def _read(self, name: str, args: dict) -> str:
        if name == "get_user_details":
            return json.dumps(self.db.user(self.user_id), ensure_ascii=False)  # type: ignore[arg-type]
        if name == "get_order_details":
            return json.dumps(self.db.order(args["order_id"]), ensure_ascii=False)
        if name == "get_product_details":
            product = self.db.product(args["product_id"])
            return json.dumps(product, ensure_ascii=False) if product else "Error: product not found"
        return json.dumps(self.db.product_types(), ensure_ascii=False)

    def _write(self, name: str, args: dict) -> str:
        proposal = Proposal(uuid.uuid4().hex[:12], name, args, describe(name, args))
        if self.defer:
            self.db.propose(self.actor, self.session, self.user_id or "", proposal.id, name, args, proposal.summary)
            self.proposals.append(proposal)
            return PENDING
        if self.confirm is None or not self.confirm(proposal):
            return self._deny(name, args, DECLINED, "declined")
        result = self.db.write(name, args, actor=self.actor, session=self.session)
        if not result.startswith("Error"):
            self.writes.append((name, args, result))
        return result
