"""The inquiry agent in ticket mode: a customer's whole request arrives in one message. The local model reads
it and fills JSON forms whose every id is a choice among the customer's own records (constrained decoding);
the desk (`inhouse.apps.commerce.desk`) runs what the forms ask for under its rules.

1. Who. The model copies the customer's email, or first name, last name and zip, out of the ticket. A value
   the ticket does not contain is dropped: the model cannot invent an identity. The desk finds the customer.
2. What. The desk reads the customer's profile and orders; the model sees them (order ids and status, items
   with item ids and options, payment methods) and fills a list of requests. Order, item and payment ids are
   enums of this customer's own ids, so no output can name another customer's order, item or card. An
   address must be written in the ticket to be used.
3. Which option. For each item to exchange or modify, the model picks one of the available variants of the
   same product (an enum of their item ids), shown the options the customer asked for.

The requests become tool calls: one exchange or modification per order with all its items (the policy says
these run once), address and payment changes of an order before its item change (which ends the order's
pending state), a hand-off to a person last. Each write is proposed to the customer (`confirm`) and commits
only on a yes. The reply lists what was done and what was not, and why.

The forms' prompts put the fixed instructions first and the ticket with the records next, so llama.cpp
evaluates that shared prefix once per ticket, not once per form.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from inhouse.apps.commerce.desk import Desk, Proposal, describe
from inhouse.apps.commerce.orders import CANCEL_REASONS
from inhouse.errors import InputError

SYSTEM = (
    "You are the service desk of an online shop. You read a customer's message and fill in forms as JSON, "
    "exactly as the form asks. Use only what the message and the customer's records say; never guess an id, "
    "a name, an address or a payment method the message does not support.")

_ADDRESS_KEYS = ("address1", "address2", "city", "state", "country", "zip")
ACTIONS = ("cancel", "return", "exchange", "modify_items", "change_order_address", "change_payment",
           "change_default_address", "human")
_TOOL_FOR = {"cancel": "cancel_pending_order", "return": "return_delivered_order_items",
             "exchange": "exchange_delivered_order_items", "modify_items": "modify_pending_order_items",
             "change_order_address": "modify_pending_order_address", "change_payment": "modify_pending_order_payment",
             "change_default_address": "modify_user_address", "human": "transfer_to_human_agents"}
# Within one order: address and payment first, then the item change, which ends the order's "pending" state;
# a cancellation last among writes; a hand-off after everything.
_RANK = {"change_order_address": 0, "change_payment": 1, "change_default_address": 2, "return": 3, "exchange": 3,
         "modify_items": 4, "cancel": 5, "human": 9}


@dataclass
class Step:
    """One thing the agent did: a model form (`form`), or a tool call through the desk (`tool`)."""

    kind: str
    name: str
    args: dict
    result: str
    seconds: float = 0.0


@dataclass
class Outcome:
    """What one ticket led to: the customer found (or not), the requests read, the steps, and the reply."""

    user_id: str | None
    requests: list[dict] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    reply: str = ""
    seconds: float = 0.0

    @property
    def calls(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "tool"]

    def to_dict(self) -> dict:
        return {"user_id": self.user_id, "requests": self.requests, "reply": self.reply, "seconds": self.seconds,
                "steps": [{"kind": s.kind, "name": s.name, "args": s.args, "result": s.result,
                           "seconds": round(s.seconds, 2)} for s in self.steps]}


def _obj(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, "additionalProperties": False}


def _enum(values: list[str]) -> dict:
    return {"type": "string", "enum": values}


IDENTITY_SCHEMA = _obj({k: {"type": "string"} for k in ("email", "first_name", "last_name", "zip")})


def _in_ticket(value: str, ticket: str) -> bool:
    return bool(value) and value.casefold() in ticket.casefold()


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _options(options: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in options.items())


def _method_line(mid: str, m: dict) -> str:
    if m["source"] == "gift_card":
        return f"- {mid}: gift card, balance {_money(m.get('balance') or 0)}"
    if m["source"] == "credit_card":
        return f"- {mid}: credit card ({m.get('brand')} ending {m.get('last_four')})"
    return f"- {mid}: PayPal"


_UNITS = {"feet": "ft", "foot": "ft", "inches": "inch", "liters": "l", "liter": "l", "litres": "l",
          "litre": "l"}


def _tokens(text: str) -> list[str]:
    return [_UNITS.get(w, w) for w in re.findall(r"\d+(?:\.\d+)?|[^\W\d_]+", text)]


class Evidence:
    """What the ticket itself says, to check each request against: a write is made only for an order the ticket
    names (by id, or by an item in it), for items it names, with a cancellation reason and a payment method it
    supports. The model proposes; the ticket decides (as the answer verifier checks claims against sources)."""

    def __init__(self, ticket: str) -> None:
        self.text = ticket.casefold()
        marks = [(m.start(), "#" + m.group(1)) for m in re.finditer(r"(?<![\w])#?(w\d{7})\b", self.text)]
        self.order_ids = {o for _, o in marks}
        self._marks: list[tuple[int, str]] = []  # where the words about each named order begin
        for k, (pos, o) in enumerate(marks):
            start = self._sentence_start(pos)
            before = [p for p, other in marks[:k] if other != o and p >= start]
            if before:  # another order is named earlier in this sentence: from this clause on, when the
                # clause opens with this order ("…, and #W2 because…"), not when it refers to it ("…as #W2")
                cuts = [m.end() for m in re.finditer(r"[,:]\s|\band\b|\bbut\b", self.text[:pos])
                        if m.end() > before[-1]]
                if cuts and len(re.findall(r"\S+", self.text[cuts[-1]:pos])) <= 3:
                    start = cuts[-1]
            self._marks.append((start, o))
        self.tokens = set(_tokens(self.text))
        self.emails = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", ticket)
        self.heads: set[str] = set()  # the product nouns of the customer's items, once their orders are read

    def _sentence_start(self, pos: int) -> int:
        cut = max((m.end() for m in re.finditer(r"[.!?;](?:\s|$)|\n", self.text[:pos])), default=0)
        return cut

    def part(self, order_id: str) -> str:
        """The ticket's words about one order: each sentence that names it by id, up to the next sentence that
        names another order, plus what comes before any order is named. The whole ticket when the id is not
        given, or is the only one given."""
        oid = order_id.casefold()
        if oid not in self.order_ids or len(self.order_ids) == 1:
            return self.text
        spans = [(0, self._marks[0][0])]
        for k, (pos, o) in enumerate(self._marks):
            if o == oid:
                end = next((p for p, other in self._marks[k + 1:] if other != oid and p > pos), len(self.text))
                spans.append((pos, end))
        return " ".join(self.text[a:b] for a, b in spans)

    def about(self, item: dict) -> set[str]:
        """The words of the ticket said about `item`: from each mention of its product noun up to the next
        mention of another of the customer's products (the whole ticket when the noun is never used)."""
        mine = self._head(item)
        heads = self.heads | {mine}
        marks = sorted((m.start(), h) for h in heads for m in re.finditer(rf"\b{re.escape(h)}", self.text))
        parts = [self.text[pos: marks[k + 1][0] if k + 1 < len(marks) else len(self.text)]
                 for k, (pos, h) in enumerate(marks) if h == mine]
        return set(_tokens(" ".join(parts))) if parts else self.tokens

    def mentions(self, value: Any, words: set[str] | None = None) -> bool:
        """Every word and number of an option value (such as "5 ft" or "1.5L") is in the ticket (or `words`)."""
        needed = _tokens(str(value).casefold())
        return bool(needed) and all(w in (self.tokens if words is None else words) for w in needed)

    def names_item(self, item: dict, text: str | None = None) -> bool:
        head = self._head(item)
        return bool(head) and re.search(rf"\b{re.escape(head)}", self.text if text is None else text) is not None

    def _head(self, item: dict) -> str:
        return re.split(r"[\s-]+", item["name"].strip().casefold())[-1]

    def prefers_cheaper(self, item: dict, order: dict) -> bool:
        """The ticket says "cheaper" (or "cheapest") about this item: the nearest product named before the word
        is this one ("…an optical mouse. I don't care if wired or not, whichever is cheaper")."""
        heads = {self._head(i) for i in order["items"]}
        mine = self._head(item)
        for m in re.finditer(r"\bcheap", self.text):
            before = [(h.start(), head) for head in heads for h in re.finditer(rf"\b{re.escape(head)}",
                                                                               self.text[: m.start()])]
            if before and max(before)[1] == mine:
                return True
        return False

    def names_order(self, order: dict) -> bool:
        return order["order_id"].casefold() in self.order_ids or any(self.names_item(i) for i in order["items"])

    def items(self, order: dict, item_ids: list[str]) -> list[str]:
        """The chosen items the ticket names where it speaks of this order; all of them when it names none but
        gives the order's id."""
        text = self.part(order["order_id"])
        by_id = {i["item_id"]: i for i in order["items"]}
        named = [i for i in item_ids if self.names_item(by_id[i], text)]
        if named:
            return named
        if order["order_id"].casefold() in self.order_ids:
            return item_ids
        return [i["item_id"] for i in order["items"] if self.names_item(i, text)]  # the model missed the named ones

    def left_out(self, order: dict, item_ids: list[str]) -> list[str]:
        """Items of an order the ticket gives by id that its words about that order name but the chosen
        `item_ids` leave out (one per product): a change to an order is made once, so all of it at once."""
        if order["order_id"].casefold() not in self.order_ids:
            return []
        text = self.part(order["order_id"])
        heads = {self._head(i) for i in order["items"] if i["item_id"] in item_ids}
        extra = []
        for i in order["items"]:
            if i["item_id"] not in item_ids and self._head(i) not in heads and self.names_item(i, text):
                heads.add(self._head(i))
                extra.append(i["item_id"])
        return extra

    def reason(self, chosen: Any, order_id: str = "") -> str:
        """The cancellation reason the ticket states for this order ("no longer needed" when it states none)."""
        text = self.part(order_id)
        mistake = "mistake" in text
        needless = re.search(r"no longer need|(?:don't|do not|not) need", text) is not None
        if mistake and needless:
            return chosen if chosen in CANCEL_REASONS else CANCEL_REASONS[0]
        return "ordered by mistake" if mistake else CANCEL_REASONS[0]

    def names_method(self, method: dict, text: str | None = None) -> bool:
        text = self.text if text is None else text
        words = {"paypal": ("paypal",), "gift_card": ("gift card", "gift-card", "giftcard"),
                 "credit_card": ("credit card", "card ending", str(method.get("last_four") or "-"),
                                 str(method.get("brand") or "-").casefold())}[method["source"]]
        return method["id"].casefold() in text or any(w in text for w in words)

    def method(self, chosen: Any, order: dict, methods: dict) -> str:
        """The payment method to use: the one chosen when the ticket names it; else the only one of the
        customer's methods the ticket names; else the one the order was paid with."""
        for text in dict.fromkeys((self.part(order["order_id"]), self.text)):  # this order's words first
            if isinstance(chosen, str) and chosen in methods and self.names_method(methods[chosen], text):
                return chosen
            named = [m for m, v in methods.items() if self.names_method(v, text)]
            if len(named) == 1:
                return named[0]
            if named:
                break
        return order["payment_history"][0]["payment_method_id"] if order["payment_history"] else ""


class TicketAgent:
    """Handles one ticket at a time with `model` (any `ChatModel` that supports `json_schema`)."""

    def __init__(self, model, max_requests: int = 6) -> None:  # noqa: ANN001 - ChatModel
        if not getattr(model, "supports_json_schema", False):
            raise InputError(f"model {getattr(model, 'name', model)!r} cannot constrain its output to a JSON "
                             "schema; the agent needs one that can (llama.cpp, or an engine with json_schema).")
        self.model = model
        self.max_requests = max_requests

    # ---- the model's forms ---------------------------------------------------------------------------------

    def _form(self, outcome: Outcome, name: str, context: str, task: str, schema: dict,
              max_tokens: int = 400, temperature: float = 0.0) -> dict:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{context}\n\n{task}"}]
        t0 = time.perf_counter()
        reply = self.model.complete(messages, max_tokens=max_tokens, temperature=temperature, json_schema=schema)
        try:
            value = json.loads(reply.text)
        except json.JSONDecodeError:
            value = None
        outcome.steps.append(Step("form", name, {}, reply.text, time.perf_counter() - t0))
        if not isinstance(value, dict):
            raise _FormFailed(f"the {name} form came back unfinished ({reply.finish}): {reply.text[:200]!r}")
        return value

    # ---- one ticket ----------------------------------------------------------------------------------------

    def handle(self, ticket: str, desk: Desk, temperature: float = 0.0) -> Outcome:
        """Read `ticket`, act through `desk` (whose `confirm` asks the customer), and say what happened."""
        if not ticket or not ticket.strip():
            raise InputError("the ticket is empty; give the customer's message.")
        t0 = time.perf_counter()
        outcome = Outcome(None)
        try:
            self._handle(ticket, desk, outcome, temperature)
        except _FormFailed as e:
            outcome.reply = f"I could not read the request ({e}). A person will look at it."
            self._call(desk, outcome, "transfer_to_human_agents", {"summary": f"unreadable ticket: {e}"})
        outcome.seconds = round(time.perf_counter() - t0, 2)
        return outcome

    def _call(self, desk: Desk, outcome: Outcome, tool: str, args: dict) -> str:
        t0 = time.perf_counter()
        result = desk.call(tool, args)
        outcome.steps.append(Step("tool", tool, args, result, time.perf_counter() - t0))
        return result

    def _handle(self, ticket: str, desk: Desk, outcome: Outcome, temperature: float) -> None:
        context = f"Customer message:\n<<<\n{ticket.strip()}\n>>>"
        who = self._form(outcome, "identity", context,
                         "Form: copy how the customer identifies themselves: their email, or their first name, last "
                         "name and zip code. Write \"\" for anything the message does not say.",
                         IDENTITY_SCHEMA, max_tokens=120, temperature=temperature)
        who = {k: str(v).strip() for k, v in who.items() if isinstance(v, str) and _in_ticket(str(v).strip(), ticket)}
        user_id = None
        # The email the model copied first, then any other the ticket gives (a customer may list several).
        said = Evidence(ticket)
        for email in dict.fromkeys([who.get("email", ""), *said.emails]):
            if email and user_id is None:
                found = self._call(desk, outcome, "find_user_id_by_email", {"email": email})
                user_id = None if found.startswith("Error") else found
        if user_id is None and all(who.get(k) for k in ("first_name", "last_name", "zip")):
            found = self._call(desk, outcome, "find_user_id_by_name_zip",
                               {k: who[k] for k in ("first_name", "last_name", "zip")})
            user_id = None if found.startswith("Error") else found
        if user_id is None:
            outcome.reply = ("I could not find your account. Please send the email address of your account, or your "
                             "first name, last name and zip code.")
            return
        outcome.user_id = user_id
        profile = json.loads(self._call(desk, outcome, "get_user_details", {"user_id": user_id}))
        orders = {}
        for order_id in profile["orders"]:
            orders[order_id] = json.loads(self._call(desk, outcome, "get_order_details", {"order_id": order_id}))
        # The orders the ticket names (by id, or by an item in them) are the ones shown and offered; all of
        # them when it names none.
        said.heads = {said._head(i) for o in orders.values() for i in o["items"]}
        shown = {k: o for k, o in orders.items() if said.names_order(o)} or orders
        records = self._records(profile, shown)
        context = f"{context}\n\nThe customer's records:\n{records}"
        schema = self._request_schema(profile, shown)
        form = self._form(outcome, "requests", context, self._requests_task(), schema, max_tokens=700,
                          temperature=temperature)
        requests = [r for r in form.get("requests", []) if isinstance(r, dict) and r.get("action") != "nothing"]
        requests = requests[: self.max_requests]
        outcome.requests = requests
        calls, notes = self._plan(requests, said, context, profile, orders, desk, outcome, temperature)
        done, not_done = [], list(notes)
        for tool, args in calls:
            result = self._call(desk, outcome, tool, args)
            text = "Handed to a person" if tool == "transfer_to_human_agents" else describe(tool, args)
            (not_done if result.startswith("Error") else done).append(
                f"{text} — {result[len('Error: '):]}" if result.startswith("Error") else text)
        outcome.reply = self._reply(done, not_done, bool(requests))

    @staticmethod
    def _reply(done: list[str], not_done: list[str], asked: bool) -> str:
        if not asked:
            return "I found your account but no change to make in your message. What would you like to do?"
        lines = [f"Done: {d}" for d in done] + [f"Not done: {n}" for n in not_done]
        return "\n".join(lines)

    # ---- the records and the request form ------------------------------------------------------------------

    @staticmethod
    def _records(profile: dict, orders: dict) -> str:
        lines = ["Payment methods:"]
        lines += [_method_line(mid, m) for mid, m in profile["payment_methods"].items()]
        lines.append("Orders:")
        for order_id, o in orders.items():
            paid = o["payment_history"][0]["payment_method_id"] if o["payment_history"] else "nothing"
            lines.append(f"Order {order_id} ({o['status']}), paid with {paid}:")
            lines += [f"  - item {it['item_id']}: {it['name']} ({_options(it['options'])}) {_money(it['price'])}"
                      for it in o["items"]]
        return "\n".join(lines)

    @staticmethod
    def _requests_task() -> str:
        return ("Form: first write in \"wants\" what the customer wants the shop to do, in one sentence. Then list "
                "it in \"requests\", one entry per request, in the order asked. A pending order can be cancelled "
                "or modified; a delivered order can be returned or exchanged.\n"
                "- cancel: cancel a pending order (reason \"no longer needed\" or \"ordered by mistake\")\n"
                "- return: return items of a delivered order; refund_to is \"original\" (the payment the order "
                "was paid with) unless the customer names another of their payment methods\n"
                "- exchange: exchange items of a delivered order for another option of the same product\n"
                "- modify_items: change items of a pending order to another option of the same product\n"
                "  (for exchange and modify_items, give each item with the options the customer wants instead, "
                "in the customer's words; pay_with as for refund_to)\n"
                "- change_order_address: ship a pending order to another address (copy the address from the message)\n"
                "- change_payment: pay a pending order with another of the customer's payment methods\n"
                "- change_default_address: change the address on the customer's profile\n"
                "- human: the customer asks for something none of these can do, or asks for a person\n"
                "- nothing: the customer asks for no change\n"
                "Pick the orders and items by what the customer says (order id, product name and options).")

    def _request_schema(self, profile: dict, orders: dict) -> dict:
        """One form option per (action, order) the policy allows: a pending order can be cancelled or modified,
        a delivered one returned or exchanged, and the item ids are that order's own."""
        methods = list(profile["payment_methods"])
        pay = _enum(["original", *methods])
        address = {k: {"type": "string"} for k in _ADDRESS_KEYS}

        def kind(name: str, **props: dict) -> dict:
            return _obj({"action": {"const": name}, **props})

        variants = []
        for order_id, o in orders.items():
            this = {"const": order_id}
            ids = sorted({it["item_id"] for it in o["items"]})
            items = {"type": "array", "items": _enum(ids), "minItems": 1}
            changes = {"type": "array", "minItems": 1,
                       "items": _obj({"item_id": _enum(ids), "wanted": {"type": "string"}})}
            if o["status"] == "pending":
                variants += [kind("cancel", order_id=this, reason=_enum(list(CANCEL_REASONS))),
                             kind("modify_items", order_id=this, items=changes, pay_with=pay),
                             kind("change_order_address", order_id=this, **address)]
                if len(methods) > 1:
                    variants.append(kind("change_payment", order_id=this, payment_method_id=_enum(methods)))
            elif o["status"] == "delivered":
                variants += [kind("return", order_id=this, item_ids=items, refund_to=pay),
                             kind("exchange", order_id=this, items=changes, pay_with=pay)]
        variants += [kind("change_default_address", **address), kind("human", summary={"type": "string"}),
                     kind("nothing")]
        return _obj({"wants": {"type": "string"},
                     "requests": {"type": "array", "items": {"anyOf": variants}, "minItems": 1,
                                  "maxItems": self.max_requests}})

    # ---- requests → tool calls -----------------------------------------------------------------------------

    def _plan(self, requests: list[dict], said: Evidence, context: str, profile: dict, orders: dict, desk: Desk,
              outcome: Outcome, temperature: float) -> tuple[list[tuple[str, dict]], list[str]]:
        """The tool calls the requests make, in the order they run, and the requests that cannot be made."""
        notes: list[str] = []
        merged: dict[tuple[str, str], dict] = {}
        for r in requests:
            action = r.get("action")
            if action not in ACTIONS:
                continue
            order_id = r.get("order_id", "")
            key = (action, order_id if action in ("return", "exchange", "modify_items") else json.dumps(r))
            if key in merged and action in ("return", "exchange", "modify_items"):
                into = merged[key]
                into["item_ids" if action == "return" else "items"] += r.get(
                    "item_ids" if action == "return" else "items", [])
            else:
                merged[key] = json.loads(json.dumps(r))
        calls: list[tuple[int, str, str, dict]] = []
        methods = profile["payment_methods"]
        for (action, _), r in merged.items():
            order = orders.get(r.get("order_id", ""))
            tool = _TOOL_FOR[action]
            if order is not None and not said.names_order(order):
                notes.append(f"a change to order {order['order_id']} — your message does not name that order or "
                             "an item in it")
                continue
            if action in ("change_order_address", "change_default_address"):
                address = {k: str(r.get(k, "")).strip() for k in _ADDRESS_KEYS}
                missing = [k for k in _ADDRESS_KEYS if address[k] and address[k].casefold() not in said.text]
                if missing or not all(address[k] for k in ("address1", "city", "zip")):
                    notes.append(f"{describe(tool, {**address, 'order_id': r.get('order_id', '')})} — the new "
                                 "address must be written out in full in your message")
                    continue
                args = {"order_id": r["order_id"], **address} if action == "change_order_address" else \
                    {"user_id": desk.user_id or "", **address}
            elif action == "human":
                args = {"summary": str(r.get("summary", "")) or "the customer asked for a person"}
            elif order is None:
                notes.append(f"a request about order {r.get('order_id')!r} — no such order of yours")
                continue
            elif action == "cancel":
                args = {"order_id": order["order_id"], "reason": said.reason(r.get("reason"), order["order_id"])}
            elif action == "change_payment":
                method = methods.get(r.get("payment_method_id", ""))
                if method is None or not said.names_method(method):
                    notes.append(f"paying order {order['order_id']} another way — your message does not say "
                                 "which of your payment methods to use")
                    continue
                args = {"order_id": order["order_id"], "payment_method_id": r["payment_method_id"]}
            elif action == "return":
                items = said.items(order, self._items_of(order, r.get("item_ids", [])))
                if not items:
                    notes.append(f"a return from order {order['order_id']} — your message names none of its items")
                    continue
                args = {"order_id": order["order_id"], "item_ids": items,
                        "payment_method_id": said.method(r.get("refund_to"), order, methods)}
            else:
                changes = [c for c in r.get("items", []) if isinstance(c, dict)]
                old = said.items(order, self._items_of(order, [c.get("item_id", "") for c in changes]))
                wanted = {c.get("item_id"): str(c.get("wanted", "")) for c in changes}
                if not old:
                    notes.append(f"a change to order {order['order_id']} — your message names none of its items")
                    continue
                new = [self._choose_variant(desk, outcome, context, order, item_id, wanted.get(item_id, ""), said,
                                            temperature) for item_id in old]
                if any(n is None for n in new):
                    notes.append(f"a change to order {order['order_id']} — no available option has exactly what "
                                 "your message asks for; tell us the options you want")
                    continue
                # Items the ticket also names for this order, with option values it states for them: part of
                # the same change (an order's items change once). Without such values they are left as they are.
                for item_id in said.left_out(order, old):
                    n = self._choose_variant(desk, outcome, context, order, item_id, "", said, temperature)
                    if n is not None:
                        old, new = [*old, item_id], [*new, n]
                args = {"order_id": order["order_id"], "item_ids": old, "new_item_ids": new,
                        "payment_method_id": said.method(r.get("pay_with"), order, methods)}
            calls.append((_RANK[action], args.get("order_id", ""), tool, args))
        # Stable: the customer's order, except that within one order the ranks above decide.
        first_seen = {}
        for i, (_, order_id, _, _) in enumerate(calls):
            first_seen.setdefault(order_id, i)
        calls.sort(key=lambda c: (c[0] == _RANK["human"], first_seen[c[1]], c[0]))
        return [(tool, args) for _, _, tool, args in calls], notes

    @staticmethod
    def _items_of(order: dict, item_ids: list[str]) -> list[str]:
        """The ids that are in `order`, each as often as the order holds it at most."""
        present = [it["item_id"] for it in order["items"]]
        kept: list[str] = []
        for item_id in item_ids:
            if kept.count(item_id) < present.count(item_id):
                kept.append(item_id)
        return kept

    def _choose_variant(self, desk: Desk, outcome: Outcome, context: str, order: dict, item_id: str, wanted: str,
                        said: Evidence, temperature: float) -> str | None:
        """The variant to change `item_id` to. Only available variants whose every changed option value the
        ticket mentions where it speaks of this product (`Evidence.about`); of those, the ones making the most
        such changes (all that were asked); among them the cheapest when the ticket asks for the cheaper, else
        the model's pick. None when no variant's changes are all in the ticket: nothing is guessed."""
        item = next(it for it in order["items"] if it["item_id"] == item_id)
        product = json.loads(self._call(desk, outcome, "get_product_details", {"product_id": item["product_id"]}))
        words = said.about(item)
        supported = []
        for v in product["variants"].values():
            changed = [x for k, x in v["options"].items() if item["options"].get(k) != x]
            if v["available"] and v["item_id"] != item_id and changed and all(said.mentions(x, words)
                                                                                for x in changed):
                supported.append((len(changed), v))
        if not supported:
            return None
        most = max(n for n, _ in supported)
        best = [v for n, v in supported if n == most]
        if len(best) > 1 and said.prefers_cheaper(item, order):
            cheapest = min(v["price"] for v in best)
            best = [v for v in best if v["price"] == cheapest]
        if len(best) == 1:
            return best[0]["item_id"]
        listing = "\n".join(f"- item {v['item_id']}: {_options(v['options'])} {_money(v['price'])}" for v in best)
        task = (f"Form: the customer wants to change item {item_id}, {item['name']} ({_options(item['options'])}, "
                f"{_money(item['price'])}). What they want instead: \"{wanted}\".\nAvailable options of the same "
                f"product:\n{listing}\nPick the one the customer asks for.")
        form = self._form(outcome, "option", context, task, _obj({"item_id": _enum([v["item_id"] for v in best])}),
                          max_tokens=40, temperature=temperature)
        choice = form.get("item_id")
        return choice if any(v["item_id"] == choice for v in best) else None


class _FormFailed(Exception):
    """The model's reply to a form was not the JSON the form asks for (cut short, or a backend without
    constraints)."""


def always_yes(_proposal: Proposal) -> bool:
    """The customer of a ticket: the request itself is the consent (ticket mode)."""
    return True

