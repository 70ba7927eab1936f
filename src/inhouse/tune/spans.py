"""Answer spans for generated questions: the piece of a source sentence a question will ask for.

A question is written for a given span (Lewis et al. 2019, Alberti et al. 2019: choosing the answer first keeps
questions extractive and checkable). Spans are the things employees ask about: quantities with their unit
("10분", "30 days", "₩500,000"), names (proper-noun runs: "한강 시민공원 축구장", "Division Director") and, failing
those, runs of nouns ("사내 포털"). Korean spans come from Kiwi's morphemes, English ones from patterns.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from inhouse.text.analyze import Analysis

# Tags that may follow a number as part of its quantity: bound nouns (분, 개), nouns (달러), foreign words
# (GB), symbols (%), and further numbers ("5월 3일").
_UNIT_TAGS = {"NNB", "NNG", "SL", "SW", "SN", "NR"}
_NOUN_RUN_TAGS = {"NNP", "NNG", "SL"}
_AFTER_QUANTITY = frozenset("이내 이상 이하 미만 초과 전 후 안 동안 까지 부터 마다 씩 당 만 내 간 째".split())
_PRIORITY = {"quantity": 0, "name": 1, "nouns": 2}

_EN_QUANTITY = re.compile(
    r"(?:[$€£₩]\s?)?\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|days?|weeks?|months?|years?|hours?|minutes?|"
    r"seconds?|million|billion|won|dollars?|euros?|km|kg|cm|mm|GB|MB|people|employees|times))?"
)
_EN_NAME = re.compile(r"\b[A-Z][A-Za-z\-]+(?:\s+(?:of\s+(?:the\s+)?)?[A-Z][A-Za-z\-]+)*")
_EN_START_WORDS = frozenset("The A An This That These Those It If When In On At For All Each Every Our Your".split())
_MASKED = re.compile(r"\[[A-Z_]+\]")


@dataclass(frozen=True)
class Span:
    """An answer span: text[start:end] of its sentence, and what kind of thing it is."""

    text: str
    start: int
    end: int
    kind: str  # quantity | name | nouns


def _usable(span: Span, sentence: str) -> bool:
    """Short enough to be an answer, and no part of a masked piece of PII ("[PHONE]")."""
    t = span.text.strip()
    masked = any(m.start() < span.end and span.start < m.end() for m in _MASKED.finditer(sentence))
    # A bare one-digit number is a list's numbering or a count the question cannot name ("1", "7").
    bare = span.kind == "quantity" and t.isdigit() and len(t) < 2
    return 1 <= len(t) <= 40 and len(t) < 0.6 * len(sentence) and not masked and "[" not in t and not bare


def korean_spans(a: Analysis, start: int, end: int) -> list[Span]:
    """Spans of a.text[start:end] from its Kiwi morphemes."""
    tokens = a.tokens_in(start, end)
    sentence = a.text[start:end]
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.tag == "SN":
            j, stop = i + 1, t.start + t.len
            # The unit follows the number directly ("10분"); a bound noun or a further number may follow a space
            # ("1만 원", "5월 3일").
            while j < len(tokens) and tokens[j].tag in _UNIT_TAGS and tokens[j].start - stop <= (
                    1 if tokens[j].tag in ("SN", "NR", "NNB") else 0):
                stop = tokens[j].start + tokens[j].len
                j += 1
            # A quantity is an answer where the sentence states it ("14일 이내에", "500,000원이며"), not where it
            # describes a noun ("1인용 리클라이너", "3도어 옷장", "9칸 큐브").
            nxt = tokens[j] if j < len(tokens) else None
            if nxt is None or nxt.tag.startswith(("J", "VCP", "E", "S")) or nxt.form in _AFTER_QUANTITY:
                spans.append(Span(a.text[t.start:stop], t.start - start, stop - start, "quantity"))
            i = j
            continue
        if t.tag in ("NNP", "NNG"):
            j, stop, names = i + 1, t.start + t.len, t.tag == "NNP"
            while j < len(tokens) and tokens[j].tag in _NOUN_RUN_TAGS and tokens[j].start - stop <= 1:
                names = names or tokens[j].tag == "NNP"
                stop = tokens[j].start + tokens[j].len
                j += 1
            if names or j - i >= 2:
                spans.append(Span(a.text[t.start:stop], t.start - start, stop - start, "name" if names else "nouns"))
            i = j
            continue
        i += 1
    return [s for s in spans if _usable(s, sentence)]


def english_spans(sentence: str) -> list[Span]:
    """Spans of an English sentence: quantities, then capitalised names not at its start."""
    spans = []
    for m in _EN_QUANTITY.finditer(sentence):
        text = m.group().strip().rstrip(",.")
        spans.append(Span(text, m.start(), m.start() + len(text), "quantity"))
    for m in _EN_NAME.finditer(sentence):
        text, s = m.group(), m.start()
        first = text.split()[0]
        if s == 0 or first in _EN_START_WORDS:
            # A sentence's first word is capitalised anyway: keep what follows it.
            rest = text.split(None, 1)
            if len(rest) < 2:
                continue
            s, text = s + text.index(rest[1]), rest[1]
        if not any(x.start <= s < x.end for x in spans):
            spans.append(Span(text, s, s + len(text), "name"))
    return [x for x in spans if _usable(x, sentence) and any(c.isalnum() for c in x.text)]


def pick_span(spans: list[Span], rng: random.Random) -> Span | None:
    """One span of the best kind present (quantity, then name, then nouns), chosen at random among them."""
    if not spans:
        return None
    best = min(_PRIORITY[s.kind] for s in spans)
    return rng.choice([s for s in spans if _PRIORITY[s.kind] == best])
