"""A narrative of a query's result, every number in it checked against the result.

The model writes a few sentences about the result table (in the question's language) and, apart, suggestions
("제안:" / "Suggestion:"). Each sentence is then checked: every number it states (12.3%, £8,187,806, 8.2 million,
52만, 3억) must be a value of the result at the precision the sentence states, or one the result gives by one step:
a column's total, the difference, ratio or percent change between two values of a column, a value's share of its
column's total, the number of rows. A date's year, month and day, and numbers of the question itself, count as
given. A sentence that says a value rose (increase, 증가, 늘었…) while the change it states is negative, or fell
while it is positive, contradicts the table. A sentence failing a check is removed, and the reply says why;
suggestions stay marked as suggestions and are checked the same way.

With the tenant's documents (the passages its search finds for the question, through the reader's view), a
suggestion may rest on a policy: the model cites the passage as [n], and each sentence's citations are checked as
an answer's are (inhouse.verify's support score): a citation to a passage that does not say it is removed, one to
the passage that does is added, and the numbers a sentence states may be its cited passage's as well as the
table's. A suggestion cited to no passage is the model's own, checked against the table alone.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from inhouse.answer.policy import AnswerPolicy
from inhouse.apps.finance.tables import Result
from inhouse.guard import copies
from inhouse.text import detect_language, statements
from inhouse.types import Citation, Hit
from inhouse.verify.support import best_support
from inhouse.verify.terms import CITATION, LEADING_CITATIONS

_SCALE = {"k": 1e3, "천": 1e3, "m": 1e6, "million": 1e6, "백만": 1e6, "만": 1e4, "억": 1e8, "b": 1e9,
          "billion": 1e9, "bn": 1e9, "조": 1e12, "thousand": 1e3}
# A Korean particle may follow a number (1,000원으로); a Latin letter or digit may not, unless it is a scale.
_NUM = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:,\d{3})*(?:\.\d+)?)\s*"
                  r"(million|billion|thousand|bn|백만|[kKmMbB천만억조](?![A-Za-z]))?(?![A-Za-z0-9])(\s*(?:%|퍼센트|percent))?",
                  re.IGNORECASE)
_UP = re.compile(r"\bincreas|\brose\b|\brise|\bgrew\b|\bgrow|\bup\b|\bhigher\b|증가|늘었|늘어|상승|성장|많아")
_DOWN = re.compile(r"\bdecreas|\bfell\b|\bfall|\bdropp|\bdeclin|\bdown\b|\blower\b|감소|줄었|줄어|하락|떨어")
_SUGGEST = re.compile(r"^\s*(?:\*\*)?(suggestion|제안|추천)\s*[:：]", re.IGNORECASE)
# A list's marker before a sentence ("1. ", "2) ", "- "): its number is the list's, not a claim.
_LIST_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")

PROMPT = {
    "ko": ("아래 표는 질문에 대한 조회 결과입니다. 표의 숫자만 써서 2~4문장으로 결과를 설명하고, 이어서 '제안:'으로 "
           "시작하는 문장 1~2개로 할 만한 조치를 제안하세요. 표에 없는 숫자는 쓰지 마세요."),
    "en": ("The table below is the result of a query for the question. Describe the result in 2-4 sentences using "
           "only the table's numbers, then give 1-2 sentences starting with 'Suggestion:' on what to do. Do not "
           "state any number that is not in the table."),
}
DOCUMENTS = {
    "ko": ("제안이 아래 회사 문서의 내용(정책, 규정)에 근거하면, 그 문서가 말하는 내용을 따로 한 문장으로 쓰고 끝에 "
           "[번호]를 다세요. 문서가 말하지 않는 내용에는 번호를 달지 마세요."),
    "en": ("When a suggestion rests on one of the company's documents below (a policy, a rule), state what that "
           "document says in a sentence of its own ending with its [n]. Never cite a document for what it does not "
           "say."),
}
SUPPORT_THRESHOLD = AnswerPolicy().verify_threshold  # a cited sentence is held to an answer's claim's standard


@dataclass
class Number:
    text: str
    value: float
    step: float  # the precision the text states it at
    percent: bool = False  # "12.3%", "12.3 퍼센트": never a date's part or a count


@dataclass
class Sentence:
    text: str
    suggestion: bool
    kept: bool = True
    reasons: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    cites: list[int] = field(default_factory=list)  # the documents' passages it cites, [n]
    notes: list[str] = field(default_factory=list)  # citations the checks removed or added

    def to_dict(self) -> dict:
        return {"text": self.text, "suggestion": self.suggestion, "kept": self.kept, "reasons": self.reasons,
                "numbers": self.numbers, "cites": self.cites, "notes": self.notes}


@dataclass
class Narrative:
    sentences: list[Sentence]
    draft: str = ""
    sources: list[Citation] = field(default_factory=list)  # the passages the model was given

    @property
    def citations(self) -> list[Citation]:
        """The passages kept sentences cite."""
        cited = {n for s in self.sentences if s.kept for n in s.cites}
        return [src for src in self.sources if src.n in cited]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences if s.kept and not s.suggestion)

    @property
    def suggestions(self) -> list[str]:
        return [s.text for s in self.sentences if s.kept and s.suggestion]

    def to_dict(self) -> dict:
        return {"text": self.text, "suggestions": self.suggestions, "draft": self.draft,
                "sentences": [s.to_dict() for s in self.sentences],
                "citations": [src.to_dict() for src in self.citations]}


def stated_numbers(text: str) -> list[Number]:
    out = []
    for m in _NUM.finditer(text):
        digits, unit = m.group(1).replace(",", ""), (m.group(2) or "").casefold()
        scale = _SCALE.get(unit, 1.0)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        value = float(decimal.Decimal(digits) * decimal.Decimal(str(scale)))  # 8.2M is 8200000, not 8199999.99…
        out.append(Number(m.group(0).strip(), value, scale * 10 ** -decimals, bool(m.group(3))))
    return out


def _numeric(v) -> float | None:  # noqa: ANN001
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, decimal.Decimal)):
        f = float(v)
        return f if math.isfinite(f) else None
    return None


def supported_values(result: Result, question: str = "") -> tuple[list[tuple[float, str]], set[float]]:
    """(value, how the table gives it) for every number a sentence may state, and the numbers counted as given
    (dates' parts, the question's numbers, the row count)."""
    values: list[tuple[float, str]] = []
    given = {float(n.value) for n in stated_numbers(question)} | {float(len(result.rows))}
    rows = result.rows[:50]
    for j, name in enumerate(result.columns):
        col = [_numeric(r[j]) for r in rows]
        nums = [v for v in col if v is not None]
        for r in rows:
            if isinstance(r[j], (dt.date, dt.datetime)):
                given |= {float(r[j].year), float(r[j].month), float(r[j].day)}
        if not nums:
            continue
        values += [(v, f"{name}") for v in nums]
        total = sum(nums)
        values.append((total, f"total of {name}"))
        values += [(100 * v / total, f"share of {name}") for v in nums if total]
        for a, b in itertools.permutations(nums, 2):
            values += [(b - a, f"difference in {name}"), (abs(b - a), f"difference in {name}")]
            if a:
                values += [(100 * (b / a - 1), f"change in {name}"), (b / a, f"ratio of {name}")]
    return values, given


def _matches(n: Number, values: list[tuple[float, str]]) -> list[tuple[float, str]]:
    tol = max(n.step / 2, 1e-9) * 1.0001
    return [(v, how) for v, how in values if abs(abs(v) - n.value) <= tol or abs(v - n.value) <= tol]


def _sentences(text: str) -> list[str]:
    """The statements of `text`; a citation written after a sentence's end ("… free. [1]") stays with it."""
    out: list[str] = []
    for a, b in statements(text):
        piece = text[a:b]
        if out and (lead := LEADING_CITATIONS.match(piece)):
            out[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end():]
        if piece.strip():
            out.append(piece)
    return out


def _cited(claim: str, cites: list[int], sources: dict[int, str]) -> tuple[list[int], list[str]]:
    """The passages `claim` cites once checked, as the answer verifier repairs citations: those of `cites` that
    support it, else the one passage that does best, else none; and what was changed, in words."""
    language = detect_language(claim)
    scores = {n: best_support(claim, src, None, language=language)[0] for n, src in sources.items()}
    kept = [n for n in cites if scores.get(n, 0.0) >= SUPPORT_THRESHOLD]
    notes = []
    if not kept and scores and scores[best := max(scores, key=lambda n: scores[n])] >= SUPPORT_THRESHOLD:
        kept = [best]
    dropped = [n for n in cites if n not in kept]
    if dropped:
        notes.append(f"{', '.join(f'[{n}]' for n in dropped)} removed: "
                     + ("not a passage given" if all(n not in sources for n in dropped) else "it does not say this"))
    if added := [n for n in kept if n not in cites]:
        notes.append(f"cites {', '.join(f'[{n}]' for n in added)}, the passage that says it")
    return kept, notes


def _with_citations(raw: str, cites: list[int]) -> str:
    """`raw` with its citations as checked, before its final stop ("…있습니다[1].")."""
    body = re.sub(r"\s+([.?!。])", r"\1", re.sub(r"\s{2,}", " ", CITATION.sub("", raw))).strip()
    marks = "".join(f"[{n}]" for n in cites)
    if marks and body[-1:] in (".", "?", "!", "。"):
        return body[:-1] + marks + body[-1]
    return body + marks


def check(text: str, result: Result, question: str = "", sources: dict[int, str] | None = None) -> list[Sentence]:
    """The sentences of `text`, each kept or removed with the reasons. With `sources` (the documents' passages
    the model was given, n → text), each sentence cites the passages that support it (a citation to one that
    does not is removed, one to the passage that does is added), and the numbers it states may be theirs."""
    sources = sources or {}
    values, given = supported_values(result, question)
    out = []
    for raw in _sentences(text):
        body = _LIST_MARK.sub("", raw, count=1)
        suggestion = bool(_SUGGEST.match(body))
        s = Sentence(raw.strip(), suggestion)
        plain = CITATION.sub(" ", body)  # "[1]" is a citation, not a number
        if sources:
            asked = list(dict.fromkeys(int(n) for n in CITATION.findall(raw)))
            s.cites, s.notes = _cited(_SUGGEST.sub("", plain).strip(), asked, sources)
            if s.cites != asked:  # the citations as checked, where they changed
                s.text = _with_citations(raw, s.cites)
        cited = {n: sources[n] for n in s.cites}
        from_documents = {n.value for src in cited.values() for n in stated_numbers(src)}
        for n in stated_numbers(plain):
            s.numbers.append(n.text)
            if (n.value in given and not n.percent) or n.value in from_documents:
                continue
            found = _matches(n, values)
            if not found:
                s.kept = False
                s.reasons.append(f"{n.text} is not in the result" + (" or the documents it cites" if cited else ""))
                continue
            changes = [v for v, how in found if how.startswith(("change", "difference")) and abs(abs(v) - n.value)
                       <= max(n.step / 2, 1e-9) * 1.0001]
            if changes and not any(how.startswith(("share", "total")) or not how.startswith(("change", "difference"))
                                   for _, how in found):
                if _UP.search(raw) and all(v < 0 for v in changes):
                    s.kept = False
                    s.reasons.append(f"says it rose, but the change {n.text} is a fall in the result")
                elif _DOWN.search(raw) and all(v > 0 for v in changes):
                    s.kept = False
                    s.reasons.append(f"says it fell, but the change {n.text} is a rise in the result")
        out.append(s)
    return out


def table_text(result: Result, limit: int = 30) -> str:
    def cell(v) -> str:  # noqa: ANN001
        f = _numeric(v)
        return f"{f:.2f}".rstrip("0").rstrip(".") if f is not None and not float(f).is_integer() else str(v)
    lines = [" | ".join(result.columns)] + [" | ".join(cell(v) for v in r) for r in result.rows[:limit]]
    return "\n".join(lines)


def narrate(model, question: str, result: Result, lang: str | None = None,  # noqa: ANN001
            documents: Sequence[Hit] = ()) -> Narrative:
    """The model's narrative of `result` for `question`, each sentence checked; `documents`: passages of the
    tenant's documents (already through the reader's view) a suggestion may cite."""
    lang = lang or detect_language(question)
    sources = [Citation(i, h.doc_path, " › ".join(h.heading_path), re.sub(r"\s+", " ", h.text).strip(), h.chunk_id)
               for i, h in enumerate(documents, start=1)]
    system = PROMPT.get(lang, PROMPT["en"]) + (" " + DOCUMENTS.get(lang, DOCUMENTS["en"]) if sources else "")
    passages = "".join(f"\n[{src.n}] ({src.heading or src.doc_path}) {src.snippet}" for src in sources)
    user = f"Question: {question}\n\nSQL: {result.sql}\n\n{table_text(result)}"
    if passages:
        user += f"\n\nCompany documents:{passages}"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    # What the model wrote passes the copy guard like any reply (text contributed for training only is withheld).
    draft = copies.screen(model.complete(messages, max_tokens=300, temperature=0.0).text.strip(), question)
    return Narrative(check(draft, result, question, {src.n: src.snippet for src in sources}), draft, sources)
