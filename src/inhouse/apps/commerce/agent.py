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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from inhouse.apps.commerce.desk import PENDING, Desk, Proposal, describe
from inhouse.apps.commerce.orders import CANCEL_REASONS
from inhouse.config import Settings
from inhouse.errors import InputError
from inhouse.protocols import Embedder, Store
from inhouse.retrieve import lookup
from inhouse.text import detect_language, word_terms
from inhouse.types import Citation, Hit, Principal

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
class Line:
    """One line of the reply: a change done, not done (and why), or waiting for the customer's yes; the tool it
    is about, and the number of the policy passage cited for it (0: none)."""

    status: str  # "done" | "not done" | "to confirm"
    text: str
    tool: str = ""
    cite: int = 0


@dataclass
class Outcome:
    """What one ticket led to: the customer found (or not), the requests read, the steps, and the reply."""

    user_id: str | None
    requests: list[dict] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    reply: str = ""
    seconds: float = 0.0
    lang: str = "en"
    lines: list[Line] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)

    @property
    def calls(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "tool"]

    def to_dict(self) -> dict:
        return {"user_id": self.user_id, "lang": self.lang, "requests": self.requests, "reply": self.reply,
                "seconds": self.seconds,
                "lines": [{"status": ln.status, "text": ln.text, "tool": ln.tool, "cite": ln.cite}
                          for ln in self.lines],
                "citations": [c.to_dict() for c in self.citations],
                "steps": [{"kind": s.kind, "name": s.name, "args": s.args, "result": s.result,
                           "seconds": round(s.seconds, 2)} for s in self.steps]}


# What the agent says, in the ticket's language.
_SAYINGS = {
    "done": {"en": "Done: {text}", "ko": "완료: {text}"},
    "not done": {"en": "Not done: {text}", "ko": "처리하지 못함: {text}"},
    "to confirm": {"en": "To confirm: {text}", "ko": "확인 필요: {text}"},
    "because": {"en": "{text} — {why}", "ko": "{text} — {why}"},
    "handed": {"en": "Handed to a person", "ko": "상담원에게 넘겼습니다"},
    "policy": {"en": "Policy:", "ko": "정책:"},
    "nothing_asked": {"en": "I found your account but no change to make in your message. What would you like to do?",
                      "ko": "계정은 찾았지만 메시지에서 처리할 변경 사항을 찾지 못했습니다. 무엇을 도와드릴까요?"},
    "no_account": {"en": "I could not find your account. Please send the email address of your account, or your "
                         "first name, last name and zip code.",
                   "ko": "계정을 찾을 수 없습니다. 계정의 이메일 주소, 또는 이름(first name), 성(last name)과 "
                         "우편번호를 보내 주세요."},
    "unreadable": {"en": "I could not read the request ({error}). A person will look at it.",
                   "ko": "요청을 읽지 못했습니다({error}). 상담원이 확인하겠습니다."},
    "not_asked": {"en": "{what} of order {order} — your message does not ask for it where it speaks of that order",
                  "ko": "주문 {order} {what} — 메시지에서 그 주문에 대해 요청하지 않았습니다"},
    "cancel": {"en": "a cancellation", "ko": "취소"},
    "return": {"en": "a return", "ko": "반품"},
    "exchange": {"en": "an exchange", "ko": "교환"},
    "modify_items": {"en": "a change of items", "ko": "품목 변경"},
    "unnamed_order": {"en": "a change to order {order} — your message does not name that order or an item in it",
                      "ko": "주문 {order} 변경 — 메시지에 그 주문이나 그 주문의 상품이 언급되지 않았습니다"},
    "address_unwritten": {"en": "{what} — the new address must be written out in full in your message",
                          "ko": "{what} — 새 주소를 메시지에 빠짐없이 적어 주셔야 합니다"},
    "no_such_order": {"en": "a request about order {order!r} — no such order of yours",
                      "ko": "주문 {order!r}에 대한 요청 — 고객님의 주문이 아닙니다"},
    "which_method": {"en": "paying order {order} another way — your message does not say which of your payment "
                           "methods to use",
                     "ko": "주문 {order}의 결제 수단 변경 — 어떤 결제 수단을 쓸지 메시지에 없습니다"},
    "return_no_items": {"en": "a return from order {order} — your message names none of its items",
                        "ko": "주문 {order} 반품 — 메시지에 그 주문의 상품이 언급되지 않았습니다"},
    "change_no_items": {"en": "a change to order {order} — your message names none of its items",
                        "ko": "주문 {order} 변경 — 메시지에 그 주문의 상품이 언급되지 않았습니다"},
    "no_option": {"en": "a change to order {order} — no available option has exactly what your message asks for; "
                        "tell us the options you want",
                  "ko": "주문 {order} 변경 — 요청하신 옵션과 정확히 맞는 구매 가능한 상품이 없습니다. 원하시는 옵션을 "
                        "알려 주세요"},
}


# What each tool does, in the words a shop's policy uses for it: the query for the passage a reply line cites.
_TOPICS = {
    "cancel_pending_order": {"en": "cancel a pending order, the reason and the refund",
                             "ko": "대기 중인 주문 취소, 취소 사유와 환불"},
    "modify_pending_order_address": {"en": "modify the shipping address of a pending order",
                                     "ko": "대기 중인 주문의 배송지 주소 변경"},
    "modify_pending_order_items": {"en": "modify items of a pending order to other options of the same product; "
                                         "the price difference",
                                   "ko": "대기 중인 주문의 품목을 같은 상품의 다른 옵션으로 변경, 차액"},
    "modify_pending_order_payment": {"en": "pay a pending order with another payment method instead of the original",
                                     "ko": "대기 중인 주문을 원래 결제 수단 대신 다른 결제 수단 하나로 결제"},
    "return_delivered_order_items": {"en": "return items of a delivered order and the refund",
                                     "ko": "배송 완료된 주문의 품목 반품과 환불"},
    "exchange_delivered_order_items": {"en": "exchange items of a delivered order for other options; the price "
                                             "difference", "ko": "배송 완료된 주문의 품목 교환, 차액"},
    "modify_user_address": {"en": "modify the user's default address", "ko": "고객의 기본 배송지 주소 변경"},
    "transfer_to_human_agents": {"en": "transfer the user to a human agent", "ko": "상담원(사람)에게 연결"},
}


def _say(key: str, lang: str, **values: Any) -> str:
    forms = _SAYINGS[key]
    return forms.get(lang, forms["en"]).format(**values)


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


def _local(term: str, names: dict) -> str:
    """`term` with the shop's name for it in the ticket's language, when there is one: "Water Bottle [물병]"."""
    name = names.get(str(term).strip().casefold()) if names else None
    return f"{term} [{name}]" if name else str(term)


def _options(options: dict, names: dict | None = None) -> str:
    values = (names or {}).get("values", {})
    return ", ".join(f"{k}: {_local(v, values)}" for k, v in options.items())


def _method_line(mid: str, m: dict) -> str:
    if m["source"] == "gift_card":
        return f"- {mid}: gift card, balance {_money(m.get('balance') or 0)}"
    if m["source"] == "credit_card":
        return f"- {mid}: credit card ({m.get('brand')} ending {m.get('last_four')})"
    return f"- {mid}: PayPal"


# The words that ask for each change (English and Korean); a change is made only for an order the ticket asks it of.
_ASKING = {
    "cancel": r"\bcancel|no longer need|(?:don't|do not) need|취소|필요\s*(?:없|하지\s*않)",
    "return": r"\breturn|\bsend (?:it |them )?back|\brefund|반품|환불",
    "exchange": r"\bexchang|\bswap|\breplac|교환|바꾸|바꿔|바꿨",
    "modify_items": r"\bmodif|\bchang|\bswitch|\bswap|\bupdat|\breplac|\binstead|변경|바꾸|바꿔|바꿨|수정",
}

_KEEPING = r"\bkeep|\bexcept|\bbut not\b|\bnot (?:return|send)|\bdon't (?:return|send)|유지|빼고|제외|말고|남겨"

_UNITS = {"feet": "ft", "foot": "ft", "inches": "inch", "liters": "l", "liter": "l", "litres": "l",
          "litre": "l"}


def _tokens(text: str) -> list[str]:
    return [_UNITS.get(w, w) for w in re.findall(r"\d+(?:\.\d+)?|[^\W\d_]+", text)]


def _is_number(token: str) -> bool:
    return token[:1].isdigit()


# What may follow a value in a Korean ticket: particles and the like (레드로, 150cm를, 블루색), never another word
# (블루투스 does not say 블루).
_PARTICLES = ("으로", "로", "을", "를", "이", "가", "은", "는", "의", "에", "에서", "와", "과", "도", "만", "랑",
              "이랑", "색", "색상", "이며", "이고", "인", "요", "까지", "부터", "보다", "처럼", "하고", "짜리", "이든",
              "든", "이나", "나", "이면", "면", "이라도", "라도")


@lru_cache(maxsize=4096)
def _morphemes(token: str) -> frozenset[str]:
    """A Korean word's morphemes as Kiwi reads them (유선이든 → 유선)."""
    return frozenset(word_terms(token))


def _is_word(token: str, word: str) -> bool:
    """`token` is `word`, or `word` with Korean particles attached (레드로, 150cm로, 블루색으로, 유선이든)."""
    if token == word:
        return True
    if not token.startswith(word):
        return False
    rest = token[len(word):]
    while rest:
        step = next((p for p in sorted(_PARTICLES, key=len, reverse=True) if rest.startswith(p)), None)
        if step is None:
            return not word.isascii() and word in _morphemes(token)
        rest = rest[len(step):]
    return True


def _said(needed: list[str], pool: list[str]) -> bool:
    """Every token of a value in `pool`; a number followed by its unit as neighbours."""
    if not needed or not all(any(_is_word(p, w) for p in pool) for w in needed):
        return False
    for k in range(len(needed) - 1):
        if _is_number(needed[k]) and not _is_number(needed[k + 1]):
            if not any(pool[j] == needed[k] and _is_word(pool[j + 1], needed[k + 1]) for j in range(len(pool) - 1)):
                return False
    return True


class Evidence:
    """What the ticket itself says, to check each request against: a write is made only for an order the ticket
    names (by id, or by an item in it), for items it names, with a cancellation reason and a payment method it
    supports. The model proposes; the ticket decides (as the answer verifier checks claims against sources)."""

    def __init__(self, ticket: str, names: dict[str, dict[str, str]] | None = None) -> None:
        self.text = ticket.casefold()
        # The shop's names in the ticket's language (OrderDB.names): a Korean ticket says 물병, the records
        # say Water Bottle.
        self.names = names or {}
        self.lang = detect_language(ticket)
        # An id may carry a Korean particle (#W5101035을); no Latin letter or digit may touch it.
        marks = [(m.start(), "#" + m.group(1)) for m in re.finditer(r"(?<![a-z0-9])#?(w\d{7})(?![a-z0-9_])", self.text)]
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
        self.sequence = _tokens(self.text)
        self.tokens = set(self.sequence)
        self.emails = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", ticket)
        self.heads: set[str] = set()  # the product nouns of the customer's items, once their orders are read
        self.forms: dict[str, list[str]] = {}  # each noun's forms in the ticket's language (`know`)
        self._shared: set[str] = set()  # nouns two of the customer's products end in (`know`)

    def know(self, items: list[dict]) -> None:
        """The customer's items, once their orders are read: their product nouns, in every language the shop
        names them. Two products sharing a noun ("Luggage Set", "Dumbbell Set") are told apart by their whole
        names."""
        names_by_noun: dict[str, set[str]] = {}
        for i in items:
            names_by_noun.setdefault(self._noun(i), set()).add(i["name"].strip().casefold())
        self._shared = {noun for noun, names in names_by_noun.items() if len(names) > 1}
        self.heads = {self._head(i) for i in items}
        for i in items:
            self.forms.setdefault(self._head(i), [])
            self.forms[self._head(i)] = list(dict.fromkeys([*self.forms[self._head(i)], *self._forms_of(i)]))

    def _forms_of(self, item: dict) -> list[str]:
        """How the ticket may name `item`'s product: its English head noun, and the shop's local name for the
        product in full and by its last word (무선 이어폰, 이어폰)."""
        local = self.names.get("products", {}).get(item["name"].strip().casefold(), "").casefold().split()
        return list(dict.fromkeys([self._head(item), *([" ".join(local), local[-1]] if local else [])]))

    @staticmethod
    def _pattern(form: str) -> str:
        """An English noun starts a word; a Korean one may sit inside a compound or before a particle."""
        return rf"\b{re.escape(form)}" if form.isascii() else re.escape(form)

    def _found(self, forms: list[str], text: str) -> bool:
        return any(re.search(self._pattern(f), text) for f in forms if f)

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

    def about(self, item: dict) -> list[str]:
        """The words of the ticket said about `item`: from each mention of its product noun up to the next
        mention of another of the customer's products (the whole ticket when the noun is never used)."""
        mine = self._head(item)
        forms = {h: self.forms.get(h, [h]) for h in self.heads} | {mine: self._forms_of(item)}
        marks = sorted({(m.start(), h) for h, fs in forms.items() for f in fs
                        for m in re.finditer(self._pattern(f), self.text)})
        parts = [self.text[pos: marks[k + 1][0] if k + 1 < len(marks) else len(self.text)]
                 for k, (pos, h) in enumerate(marks) if h == mine]
        return _tokens(" ".join(parts)) if parts else self.sequence

    def mentions(self, value: Any, words: list[str] | None = None) -> bool:
        """Every word and number of an option value (such as "5 ft" or "1.5L") is in the ticket (or `words`, in
        order); a number and its unit ("8GB", "150cm") only side by side, so "8-inch … 32GB" does not say 8GB."""
        pool = self.sequence if words is None else words
        return _said(_tokens(str(value).casefold()), pool) or _said(
            _tokens(self.names.get("values", {}).get(str(value).strip().casefold(), "").casefold()), pool)

    def names_item(self, item: dict, text: str | None = None) -> bool:
        return self._found(self._forms_of(item), self.text if text is None else text)

    @staticmethod
    def _noun(item: dict) -> str:
        return re.split(r"[\s-]+", item["name"].strip().casefold())[-1]

    def _head(self, item: dict) -> str:
        """How the ticket names `item`'s product: its last word, or its whole name when another of the
        customer's products ends in the same word."""
        noun = self._noun(item)
        return item["name"].strip().casefold() if noun in self._shared else noun

    def prefers_cheaper(self, item: dict, order: dict) -> bool:
        """The ticket says "cheaper" (or "cheapest") about this item: the nearest product named before the word
        is this one ("…an optical mouse. I don't care if wired or not, whichever is cheaper")."""
        forms = {self._head(i): self._forms_of(i) for i in order["items"]}
        mine = self._head(item)
        for m in re.finditer(r"\bcheap|저렴|(?<!비)싼", self.text):
            before = [(h.start(), head) for head, fs in forms.items() for f in fs
                      for h in re.finditer(self._pattern(f), self.text[: m.start()])]
            if before and max(before)[1] == mine:
                return True
        return False

    def names_order(self, order: dict) -> bool:
        return order["order_id"].casefold() in self.order_ids or any(self.names_item(i) for i in order["items"])

    def asks(self, action: str, order_id: str) -> bool:
        """When the ticket names several orders by id, it asks for `action` where it speaks of this one
        (`part`): "cancel"/"취소" for a cancellation, and so on; an order named for one change is not cancelled
        because another is. A ticket about one order may say it in its own words ("I won't be able to receive
        it"): the rule is not applied."""
        words = _ASKING.get(action)
        if words is None or len(self.order_ids) < 2:
            return True
        return re.search(words, self.part(order_id)) is not None

    def keeps(self, order_id: str) -> bool:
        """The ticket says, where it speaks of this order, that something stays ("keep the watch", "빼고")."""
        return re.search(_KEEPING, self.part(order_id)) is not None

    def same_named(self, order: dict, item_id: str) -> str:
        """Among items of `order` with the same product as `item_id`, the one whose current option values the
        ticket states where it speaks of that product; `item_id` itself when it is that one, or when the ticket
        does not single one out."""
        by_id = {i["item_id"]: i for i in order["items"]}
        item = by_id.get(item_id)
        if item is None:
            return item_id
        twins = [i for i in order["items"] if i["product_id"] == item["product_id"]]
        if len({i["item_id"] for i in twins}) < 2:
            return item_id
        text = _tokens(self.part(order["order_id"]))
        stated = [i for i in twins if all(self.mentions(v, text) for v in i["options"].values())]
        if len({i["item_id"] for i in stated}) == 1 and item not in stated:
            return stated[0]["item_id"]
        return item_id

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
        mistake = "mistake" in text or "실수" in text
        needless = re.search(r"no longer need|(?:don't|do not|not) need|필요\s*(?:없|하지\s*않|치\s*않)",
                             text) is not None
        if mistake and needless:
            return chosen if chosen in CANCEL_REASONS else CANCEL_REASONS[0]
        return "ordered by mistake" if mistake else CANCEL_REASONS[0]

    def names_method(self, method: dict, text: str | None = None) -> bool:
        text = self.text if text is None else text
        words = {"paypal": ("paypal", "페이팔"),
                 "gift_card": ("gift card", "gift-card", "giftcard", "기프트카드", "기프트 카드", "상품권"),
                 "credit_card": ("credit card", "card ending", "신용카드", "신용 카드",
                                 str(method.get("last_four") or "-"), str(method.get("brand") or "-").casefold())
                 }[method["source"]]
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

    def __init__(self, model, max_requests: int = 6,  # noqa: ANN001 - ChatModel
                 policy: Callable[[str], list[Hit]] | None = None) -> None:
        """`policy(query)` searches the shop's policy documents (the hits a customer may read, best first): each
        line of a reply cites the passage found for it."""
        if not getattr(model, "supports_json_schema", False):
            raise InputError(f"model {getattr(model, 'name', model)!r} cannot constrain its output to a JSON "
                             "schema; the agent needs one that can (llama.cpp, or an engine with json_schema).")
        self.model = model
        self.max_requests = max_requests
        self.policy = policy

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
        outcome = Outcome(None, lang=detect_language(ticket))
        try:
            self._handle(ticket, desk, outcome, temperature)
        except _FormFailed as e:
            outcome.reply = _say("unreadable", outcome.lang, error=e)
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
        lang = outcome.lang
        # The email the model copied first, then any other the ticket gives (a customer may list several).
        said = Evidence(ticket, desk.db.names(lang) if lang != "en" else None)
        for email in dict.fromkeys([who.get("email", ""), *said.emails]):
            if email and user_id is None:
                found = self._call(desk, outcome, "find_user_id_by_email", {"email": email})
                user_id = None if found.startswith("Error") else found
        if user_id is None and all(who.get(k) for k in ("first_name", "last_name", "zip")):
            found = self._call(desk, outcome, "find_user_id_by_name_zip",
                               {k: who[k] for k in ("first_name", "last_name", "zip")})
            user_id = None if found.startswith("Error") else found
        if user_id is None:
            outcome.reply = _say("no_account", lang)
            return
        outcome.user_id = user_id
        profile = json.loads(self._call(desk, outcome, "get_user_details", {"user_id": user_id}))
        orders = {}
        for order_id in profile["orders"]:
            orders[order_id] = json.loads(self._call(desk, outcome, "get_order_details", {"order_id": order_id}))
        # The orders the ticket names (by id, or by an item in them) are the ones shown and offered; all of
        # them when it names none.
        said.know([i for o in orders.values() for i in o["items"]])
        shown = {k: o for k, o in orders.items() if said.names_order(o)} or orders
        records = self._records(profile, shown, said.names)
        context = f"{context}\n\nThe customer's records:\n{records}"
        schema = self._request_schema(profile, shown)
        form = self._form(outcome, "requests", context, self._requests_task(), schema, max_tokens=700,
                          temperature=temperature)
        requests = [r for r in form.get("requests", []) if isinstance(r, dict) and r.get("action") != "nothing"]
        requests = requests[: self.max_requests]
        outcome.requests = requests
        calls, notes = self._plan(requests, said, context, profile, orders, desk, outcome, temperature)
        made, failed = [], []
        for tool, args in calls:
            result = self._call(desk, outcome, tool, args)
            text = _say("handed", lang) if tool == "transfer_to_human_agents" else describe(tool, args, lang)
            if result.startswith("Error"):
                failed.append(Line("not done", _say("because", lang, text=text, why=result[len("Error: "):]), tool))
            else:
                made.append(Line("to confirm" if result == PENDING else "done", text, tool))
        outcome.lines = made + [Line("not done", text, tool) for tool, text in notes] + failed
        if self.policy is not None:
            cite(outcome, self.policy)
        outcome.reply = self._reply(outcome) if requests and outcome.lines else _say("nothing_asked", lang)

    @staticmethod
    def _reply(outcome: Outcome) -> str:
        lang = outcome.lang
        rows = [_say(ln.status, lang, text=ln.text) + (f" [{ln.cite}]" if ln.cite else "") for ln in outcome.lines]
        if outcome.citations:
            rows += ["", _say("policy", lang)]
            rows += [f"[{c.n}] {c.doc_path} › {c.heading}: {c.snippet}" for c in outcome.citations]
        return "\n".join(rows)

    # ---- the records and the request form ------------------------------------------------------------------

    @staticmethod
    def _records(profile: dict, orders: dict, names: dict | None = None) -> str:
        """The customer's payment methods and orders, with the shop's names in the ticket's language beside
        product names and option values when it has them."""
        local = (names or {}).get("products", {})
        lines = ["Payment methods:"]
        lines += [_method_line(mid, m) for mid, m in profile["payment_methods"].items()]
        lines.append("Orders:")
        for order_id, o in orders.items():
            paid = o["payment_history"][0]["payment_method_id"] if o["payment_history"] else "nothing"
            lines.append(f"Order {order_id} ({o['status']}), paid with {paid}:")
            lines += [f"  - item {it['item_id']}: {_local(it['name'], local)} ({_options(it['options'], names)}) "
                      f"{_money(it['price'])}" for it in o["items"]]
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
              outcome: Outcome, temperature: float) -> tuple[list[tuple[str, dict]], list[tuple[str, str]]]:
        """The tool calls the requests make, in the order they run, and the requests that cannot be made (each
        with its tool and why, in the ticket's language)."""
        notes: list[tuple[str, str]] = []
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
                notes.append((tool, _say("unnamed_order", said.lang, order=order["order_id"])))
                continue
            if order is not None and not said.asks(action, order["order_id"]):
                notes.append((tool, _say("not_asked", said.lang, what=_say(action, said.lang),
                                         order=order["order_id"])))
                continue
            if action in ("change_order_address", "change_default_address"):
                address = {k: str(r.get(k, "")).strip() for k in _ADDRESS_KEYS}
                missing = [k for k in _ADDRESS_KEYS if address[k] and address[k].casefold() not in said.text]
                if missing or not all(address[k] for k in ("address1", "city", "zip")):
                    notes.append((tool, _say("address_unwritten", said.lang, what=describe(
                        tool, {**address, "order_id": r.get("order_id", "")}, said.lang))))
                    continue
                args = {"order_id": r["order_id"], **address} if action == "change_order_address" else \
                    {"user_id": desk.user_id or "", **address}
            elif action == "human":
                args = {"summary": str(r.get("summary", "")) or "the customer asked for a person"}
            elif order is None:
                notes.append((tool, _say("no_such_order", said.lang, order=r.get("order_id"))))
                continue
            elif action == "cancel":
                args = {"order_id": order["order_id"], "reason": said.reason(r.get("reason"), order["order_id"])}
            elif action == "change_payment":
                method = methods.get(r.get("payment_method_id", ""))
                if method is None or not said.names_method(method):
                    notes.append((tool, _say("which_method", said.lang, order=order["order_id"])))
                    continue
                args = {"order_id": order["order_id"], "payment_method_id": r["payment_method_id"]}
            elif action == "return":
                items = said.items(order, self._items_of(order, r.get("item_ids", [])))
                if not items:
                    notes.append((tool, _say("return_no_items", said.lang, order=order["order_id"])))
                    continue
                # Items the ticket also names where it speaks of this order join the return (a return of an
                # order is one request), unless it says to keep some.
                if not said.keeps(order["order_id"]):
                    items = items + said.left_out(order, items)
                args = {"order_id": order["order_id"], "item_ids": items,
                        "payment_method_id": said.method(r.get("refund_to"), order, methods)}
            else:
                changes = [c for c in r.get("items", []) if isinstance(c, dict)]
                # Of two items of the same product, the one whose current options the ticket states.
                changes = [{**c, "item_id": said.same_named(order, str(c.get("item_id", "")))} for c in changes]
                old = said.items(order, self._items_of(order, [c.get("item_id", "") for c in changes]))
                wanted = {c.get("item_id"): str(c.get("wanted", "")) for c in changes}
                if not old:
                    notes.append((tool, _say("change_no_items", said.lang, order=order["order_id"])))
                    continue
                new = [self._choose_variant(desk, outcome, context, order, item_id, wanted.get(item_id, ""), said,
                                            temperature) for item_id in old]
                if any(n is None for n in new):
                    notes.append((tool, _say("no_option", said.lang, order=order["order_id"])))
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
        listing = "\n".join(f"- item {v['item_id']}: {_options(v['options'], said.names)} {_money(v['price'])}"
                            for v in best)
        task = (f"Form: the customer wants to change item {item_id}, {item['name']} "
                f"({_options(item['options'], said.names)}, "
                f"{_money(item['price'])}). What they want instead: \"{wanted}\".\nAvailable options of the same "
                f"product:\n{listing}\nPick the one the customer asks for.")
        form = self._form(outcome, "option", context, task, _obj({"item_id": _enum([v["item_id"] for v in best])}),
                          max_tokens=40, temperature=temperature)
        choice = form.get("item_id")
        return choice if any(v["item_id"] == choice for v in best) else None


class _FormFailed(Exception):
    """The model's reply to a form was not the JSON the form asks for (cut short, or a backend without
    constraints)."""


def cite(outcome: Outcome, lookup: Callable[[str], list[Hit]]) -> None:
    """Each line of `outcome` cites the policy passage `lookup` finds first for it, queried with what its tool
    does and the line's words (not its ids), in the reply's language; one number per passage."""
    by_chunk: dict[int, Citation] = {}
    for line in outcome.lines:
        if not line.tool:
            continue
        words = " ".join(w for w in line.text.split() if not re.search(r"[\d_#]", w))  # ids say nothing of policy
        topic = _TOPICS[line.tool]
        hits = lookup(f"{topic.get(outcome.lang, topic['en'])}. {words}")
        if not hits:
            continue
        hit = hits[0]
        if hit.chunk_id not in by_chunk:
            text = re.sub(r"\s+", " ", hit.text.lstrip("-• ")).strip()
            by_chunk[hit.chunk_id] = Citation(len(by_chunk) + 1, hit.doc_path, " › ".join(hit.heading_path),
                                              text[:200] + ("…" if len(text) > 200 else ""), hit.chunk_id)
        line.cite = by_chunk[hit.chunk_id].n
    outcome.citations = list(by_chunk.values())


def policy_lookup(store: Store, tenant: str, settings: Settings, embedder: Embedder | None = None
                  ) -> Callable[[str], list[Hit]]:
    """The agent's search of the shop's documents: the tenant's documents its customers may read (those
    ingested without access groups), through the reader view like every search."""
    return lookup(store, Principal(tenant, "commerce-agent"), settings, embedder, k=1)


def always_yes(_proposal: Proposal) -> bool:
    """The customer of a ticket: the request itself is the consent (ticket mode)."""
    return True

