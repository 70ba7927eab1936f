"""Product copy from a spec, in Korean or English and in the shop's tone, with every claim checked.

The local model drafts a short description from the item's spec (product name, options as "name: value",
price). Each sentence of the draft is then checked against that spec, and a sentence is removed when it
- states a number that is not in the spec (a capacity, a size, a count, a price …), or
- names a value the item does not have but another variant of the same product does ("wireless" for the
  wired one, "레드" for the black one): the likeliest confusion for a model shown a catalog of variants; or
- names a feature of the shop's other products that this one's spec does not state ("HEPA", "cordless",
  "waterproof" …: the catalog's option values are its vocabulary of features); or
- says mostly what the spec does not: fewer than half of its content words are the spec's, by the
  verifier's support score (`verify.support`) with the spec as the source ("ideal for sleep", "a premium
  option for those seeking high-quality audio").
What is left is the copy. A spec value the kept sentences do not mention is added in a closing spec line
built from the spec itself, so a shopper sees every required field (reported apart: the model's own mentions
and the line's).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from inhouse.apps.commerce.catalog import Item, Product
from inhouse.errors import InputError
from inhouse.text import split_sentences
from inhouse.verify.support import support

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
# Values too generic to be a claim of their own ("no", "none", "M"): not used to spot a sibling's value; and
# everyday words that are other products' values ("high" brightness, "small" size): not taken for a feature.
_GENERIC = {"yes", "no", "none", "있음", "없음", "기본", "표준", "standard", "basic"}
_EVERYDAY = {"high", "low", "medium", "small", "large", "light", "dark", "full", "half", "plain", "custom", "fixed",
             "manual", "digital", "analog", "art", "fresh", "portable", "높음", "낮음", "중형", "소형", "대형", "무지"}

SUPPORT = 0.5  # the least share of a sentence's content words that the spec must hold

SYSTEM = ("You write product descriptions for an online shop. Use only the facts in the spec you are given: no "
          "other numbers, materials, features or claims. Write plain sentences, no lists, no headings.")


@dataclass
class Sentence:
    text: str
    kept: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class Copy:
    item_id: str
    lang: str
    draft: str
    text: str
    sentences: list[Sentence]
    mentioned: list[str]  # spec values the kept sentences mention
    missing: list[str]  # spec values the closing spec line adds
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


_MAN_WON = re.compile(r"(\d+(?:\.\d+)?)\s*만(?=\s*원)")


def _numbers(text: str) -> set[str]:
    """The numbers in `text`, normalised ("1,300" → "1300", "2.50" → "2.5", "52만 원" → "520000")."""
    text = _MAN_WON.sub(lambda m: f"{float(m.group(1)) * 10_000:.0f}", text)
    out = set()
    for m in _NUMBER.finditer(text):
        n = m.group(0).replace(",", "")
        out.add(n.rstrip("0").rstrip(".") if "." in n else n)
    return out


def mentions_value(text: str, value: str) -> bool:
    """Whether `text` names `value`: Korean as a substring, Latin as whole words (case aside)."""
    if re.search(r"[가-힣]", value):
        return value in text
    return re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text, re.IGNORECASE) is not None


def allowed_numbers(product: Product, item: Item) -> set[str]:
    """Numbers the copy may state: those in the product's name, the item's options and its price."""
    allowed = _numbers(product.name) | _numbers(" ".join(f"{k} {v}" for k, v in item.options.items()))
    if item.price is not None:
        allowed |= _numbers(f"{item.price:.2f}") | _numbers(f"{item.price:,.0f}")
    return allowed


def spec_text(product: Product, item: Item) -> str:
    """The item's spec as the source a sentence is checked against."""
    # One sentence: the support score compares a claim's numbers with its best source sentence's.
    parts = [f"{k}: {v}" for k, v in item.options.items()]
    if item.price is not None:
        parts.append(f"price (가격): {item.price:,.2f} ({item.price:,.0f})")
    return f"{product.name} — " + ", ".join(parts) + "."


def _words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[가-힣]+|[A-Za-z]+|\d+", text)}


def check(sentence: str, product: Product, item: Item, siblings: dict[str, list[str]],
          features: Sequence[str] = (), min_support: float = SUPPORT) -> list[str]:
    """Why `sentence` is not supported by the item's spec ([] when it is). `siblings`: the product's values of
    each option across its variants; `features`: the option values of the shop's other products;
    `min_support`: the least share of its content words the spec must hold."""
    reasons = []
    allowed = allowed_numbers(product, item)
    for n in sorted(_numbers(sentence) - allowed):
        reasons.append(f"the number {n} is not in the spec")
    own = {v.casefold() for v in item.options.values()}
    # The product's name, its words, the option names and the item's own values are the item's: taken out
    # before looking for other variants' values ("블루" inside "블루투스 스피커" is not the colour).
    masked = sentence
    for said_here in sorted({product.name, *product.name.split(), *item.options, *item.options.values()},
                            key=len, reverse=True):
        if said_here.strip():
            masked = re.sub(re.escape(said_here), " ", masked, flags=re.IGNORECASE)
    for option, values in siblings.items():
        mine = item.options.get(option)
        for v in values:
            # Too short to be a claim of its own: Latin under 3 letters ("M"), Hangul under 2 ("철").
            if v == mine or v.casefold() in _GENERIC or len(v) < (2 if re.search(r"[가-힣]", v) else 3) \
                    or v.casefold() in own:
                continue
            # A sibling value inside the item's own ("Wi-Fi" in "Wi-Fi + Cellular") is the item's.
            if mine and mentions_value(mine, v):
                continue
            if mentions_value(masked, v):
                reasons.append(f"says {v!r}, but this item's {option} is {mine!r}")
    # What the spec states, word by word: a feature whose words are all here is stated ("HEPA filter" for
    # filter type: HEPA; "battery" for battery life: 8 hours). Numbers are checked above.
    said = _words(" ".join([product.name, *item.options, *item.options.values()]))
    for f in features:
        if (len(f) >= 4 and not f[0].isdigit() and f.casefold() not in _EVERYDAY and f.casefold() not in _GENERIC
                and not _words(f) <= said and mentions_value(sentence, f)):
            reasons.append(f"names {f!r}, which this item's spec does not state")
    score, _ = support(sentence, spec_text(product, item))
    if score < min_support:
        reasons.append(f"only {score:.0%} of its words are in the spec")
    return reasons


def features_of(items: Sequence[Item], product_id: str) -> list[str]:
    """The option values of the products other than `product_id`: the shop's vocabulary of features."""
    own = {v for it in items if it.product_id == product_id for v in it.options.values()}
    return sorted({v for it in items if it.product_id != product_id for v in it.options.values()} - own)


def spec_line(item: Item, values: Sequence[str], lang: str) -> str:
    pairs = [f"{k} {v}" if lang == "ko" else f"{k}: {v}" for k, v in item.options.items() if v in values]
    return ("사양: " if lang == "ko" else "Spec: ") + ", ".join(pairs) + "."


def prompt(product: Product, item: Item, lang: str, tone: str = "") -> str:
    spec = "\n".join(f"- {k}: {v}" for k, v in item.options.items())
    if item.price is None:
        price = ""
    else:
        price = f"\nPrice: {item.price:,.0f}원" if lang == "ko" else f"\nPrice: ${item.price:,.2f}"
    language = "Korean (한국어)" if lang == "ko" else "English"
    style = f"\nThe shop's tone: {tone}" if tone.strip() else ""
    return (f"Product: {product.name}\nSpec:\n{spec}{price}{style}\n\nWrite a product description of three "
            f"sentences in {language} that mentions every spec value above and nothing that is not in the spec.")


def write_copy(model, product: Product, item: Item, siblings: dict[str, list[str]],  # noqa: ANN001 - a ChatModel
               features: Sequence[str] = (), lang: str = "ko", tone: str = "", max_tokens: int = 220) -> Copy:
    """Draft the item's copy with `model` (a ChatModel), check each sentence against the spec, keep the
    supported ones and close with a spec line for what they leave out."""
    if lang not in ("ko", "en"):
        raise InputError(f"copy language {lang!r}: choose ko or en.")
    t0 = time.perf_counter()
    reply = model.complete([{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": prompt(product, item, lang, tone)}],
                           max_tokens=max_tokens, temperature=0.0)
    draft = reply.text.strip()
    return checked(draft, product, item, siblings, features, lang, time.perf_counter() - t0)


def checked(draft: str, product: Product, item: Item, siblings: dict[str, list[str]], features: Sequence[str],
            lang: str, seconds: float = 0.0) -> Copy:
    """The copy `draft` becomes once each of its sentences is checked (see `write_copy`)."""
    sentences = []
    for a, b in split_sentences(draft):
        text = " ".join(draft[a:b].split())
        if text:
            reasons = check(text, product, item, siblings, features)
            sentences.append(Sentence(text, not reasons, reasons))
    body = " ".join(s.text for s in sentences if s.kept)
    values = list(item.options.values())
    mentioned = [v for v in values if mentions_value(body, v)]
    missing = [v for v in values if v not in mentioned]
    text = (body + (" " if body else "") + spec_line(item, missing, lang)) if missing else body
    return Copy(item.item_id, lang, draft, text, sentences, mentioned, missing, round(seconds, 2))


def siblings_of(items: Sequence[Item], product_id: str) -> dict[str, list[str]]:
    """The values of each option across a product's items."""
    out: dict[str, list[str]] = {}
    for it in items:
        if it.product_id == product_id:
            for k, v in it.options.items():
                if v not in out.setdefault(k, []):
                    out[k].append(v)
    return out
