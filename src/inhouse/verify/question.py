"""The question a claim answers, read once: `Question` holds its language, terms and kind (closed, yes/no,
asking for a number and in which unit), which the verifier's rules and the answer pipeline both consult.

An ask parses its question once (`Question(text)`: one language detection) and passes it down; each reading
is computed the first time a rule asks for it and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from inhouse.text import detect_language, lexical_terms, word_terms
from inhouse.text.analyze import kiwi
from inhouse.verify.terms import match_form, match_forms, predicate_terms

# Question words carry no evidence: a source need not contain "무엇" or "how" to answer.
QUESTION_WORDS = frozenset(
    "무엇 무슨 어떻 어떤 어떠 언제 어디 얼마 얼마나 몇 며칠 누구 왜 어느 알려주 되 하 있 인가 까지 가요 나요 "
    "what which when where how much many who whom whose why does do is are can could should".split()
)
_WH = re.compile(r"무엇|무슨|어떻|어떤|어떠|언제|어디|얼마|몇|며칠|누구|누가|왜|어느|"
                 r"\b(?:what|which|when|where|how|who|whom|whose|why)\b", re.IGNORECASE)
_CHOICE = re.compile(r"\bor\b|또는|아니면|혹은|중(?:에서)? (?:어느|어떤|누가|무엇|누구)", re.IGNORECASE)
_EN_YES_NO = re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|may|must)\b",
                        re.IGNORECASE)
# Questions that ask for a count or an amount: their answer states a number ("몇몇" is "several").
_COUNT = re.compile(r"(?<!몇)몇(?!몇)|며칠|개수|갯수|얼마(?!나)|\bhow (?:many|much|old)\b|\b(?:what|which) year\b",
                    re.IGNORECASE)
# The forms an answer may give a unit in ("몇 퍼센트" is answered "30%", "몇센티" "35cm").
_UNIT_FORMS = {"퍼센트": ("퍼센트", "%", "프로"), "%": ("%", "퍼센트", "프로"), "살": ("살", "세"),
               "센티": ("센티", "cm"), "센티미터": ("센티", "cm"), "밀리": ("밀리", "mm"), "밀리미터": ("밀리", "mm"),
               "미터": ("미터", "m"), "킬로미터": ("킬로", "km"), "킬로그램": ("킬로", "kg"),
               "킬로": ("킬로", "km", "kg"),
               "그램": ("그램", "g"), "톤": ("톤", "t")}
_KO_NUMERAL = r"(?:\d|한|두|세|네|다섯|여섯|일곱|여덟|아홉|열|스무|서른|마흔|쉰|예순|일흔|여든|아흔|백|천|만)"


@dataclass(frozen=True)
class Question:
    """A question as the pipeline and the verifier read it."""

    text: str
    language: str = field(init=False)  # "ko" or "en" (detect_language), detected once, on construction

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", detect_language(self.text))

    @cached_property
    def lexical(self) -> tuple[str, ...]:
        """Its lexical terms in order (`lexical_terms`: Korean compounds and bigrams included)."""
        return tuple(lexical_terms(self.text))

    @cached_property
    def terms(self) -> frozenset[str]:
        """Its content terms: its lexical terms without its question words."""
        return frozenset(t for t in self.lexical if t not in QUESTION_WORDS)

    @cached_property
    def words(self) -> frozenset[str]:
        """Its content terms a word each (`word_terms`, its question words removed): the measure of a
        sentence's share of the question, where `terms` would let a long name or compound outweigh the rest
        (bench/answers_pooled.py: Korean wrong answers 54 -> 43 of 402 answerable and 35 -> 26 of 386 with
        the gold removed, for 3 more right answers)."""
        return frozenset(t for t in word_terms(self.text) if t not in QUESTION_WORDS)

    @cached_property
    def match_terms(self) -> frozenset[str]:
        """`terms` in the form claims and sources are compared in (`match_form`)."""
        return frozenset(match_form(t) for t in self.terms)

    @cached_property
    def match_words(self) -> frozenset[str]:
        """`words` in compared form."""
        return frozenset(match_form(t) for t in self.words)

    @cached_property
    def closed(self) -> bool:
        """Answered in its own words: a choice between options it names ("A or B?", "A와 B 중 어느 쪽이
        먼저인가?"), or yes/no ("연회비가 환불되나요?", "Is the fee refunded?": no question word, and an
        English auxiliary first or a Korean sentence-final verb ending last)."""
        if _CHOICE.search(self.text):
            return True
        if _WH.search(self.text):
            return False
        if self.language == "en":
            return bool(_EN_YES_NO.match(self.text))
        tokens = [t for t in kiwi().tokenize(self.text) if not t.tag.startswith("S")]
        return bool(tokens) and tokens[-1].tag == "EF"

    @cached_property
    def yes_no(self) -> bool:
        """A closed question that names no options to choose between."""
        return self.closed and not _CHOICE.search(self.text)

    @cached_property
    def wants_number(self) -> bool:
        """It asks for a count or an amount: its answer states a number."""
        return bool(_COUNT.search(self.text))

    @cached_property
    def unit(self) -> tuple[str, ...]:
        """The unit a count question asks in, in the forms an answer may write it (`asked_unit`)."""
        return asked_unit(self.text) if self.wants_number else ()

    @cached_property
    def predicates(self) -> frozenset[str]:
        """What a Korean question asks of its subject (`predicate_terms`: 반품할 → 반품); English: none."""
        return predicate_terms(self.text, self.language)

    @cached_property
    def names(self) -> frozenset[tuple[str, ...]]:
        """The names an English question is about, each as its words in compared form: a run of capitalised
        words after the first word ("What did Newcastle University win in 2000?" → (newcastl, university)),
        and each number, word with digits or word in capitals on its own ("2000", "internet2", "XLIX", "HD")."""
        if self.language != "en":
            return frozenset()
        words = re.findall(r"[\w-]+", re.sub(r"['’]s\b", "", self.text))[1:]
        groups: list[list[str]] = []
        run = False
        for w in words:
            if any(c.isdigit() for c in w) or (len(w) > 1 and w.isupper()):  # "2000", "internet2", "XLIX", "HD"
                groups.append([w])
                run = False
            elif w[0].isupper():
                if not run:
                    groups.append([])
                groups[-1].append(w)
                run = True
            else:
                run = False
        return frozenset(g for g in (tuple(f for w in group for t in lexical_terms(w)
                                           for f in (match_forms(t)[1:] if "-" in t else match_forms(t)))
                                     for group in groups) if g)


@lru_cache(maxsize=256)
def _parsed(text: str) -> Question:
    return Question(text)


def as_question(question: Question | str) -> Question | None:
    """`question` as a `Question`, or None where there is none (""). A string is parsed through a small cache:
    a bench scores many claims against one question."""
    if isinstance(question, Question):
        return question if question.text else None
    return _parsed(question) if question else None


def is_closed(question: str) -> bool:
    """Whether `question` is closed (`Question.closed`: a choice, or yes/no)."""
    return Question(question).closed


def asks_for_number(question: str) -> bool:
    """Whether `question` asks for a count or an amount (`Question.wants_number`)."""
    return Question(question).wants_number


def question_names(question: str) -> frozenset[tuple[str, ...]]:
    """The names an English `question` is about (`Question.names`)."""
    return Question(question).names


def asked_unit(question: str) -> tuple[str, ...]:
    """The unit a Korean count question asks in ("몇 Hz의 주파수" → Hz, "몇 명인가" → 명; a bound noun, a
    Latin unit or %) in the forms an answer may write it; empty when there is none ("몇 버전", "몇종류":
    nouns, not units, and often answered without them)."""
    if "몇" not in question:
        return ()
    tokens = kiwi().tokenize(question)
    for t, nxt in zip(tokens, tokens[1:], strict=False):
        if t.form == "몇" and t.tag in ("MM", "NR") and nxt.tag in ("NNB", "SL", "SW"):
            form = nxt.form if nxt.tag != "NNB" else nxt.form[0]  # "몇 년도" is answered "1998년"
            return _UNIT_FORMS.get(nxt.form, (form,))
    return ()


def states_unit(text: str, forms: tuple[str, ...]) -> bool:
    """Whether `text` states a number in one of the unit `forms` ("59.94 Hz", "102명", "세 명")."""
    # A Latin unit ends where its word does: "35mm" states no "m".
    return any(re.search(_KO_NUMERAL + r"\s*" + re.escape(f) + (r"(?![A-Za-z])" if f.isascii() and f.isalpha() else ""),
                         text, re.IGNORECASE) for f in forms)
