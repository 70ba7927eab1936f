"""The terms claims, sources and questions are compared by: content terms in compared form, and numbers.

A term is compared in its `match_form`: an English number word as its digits, an English word without its
inflection (`inhouse.text.stem`); Korean terms are Kiwi lemmas already.
"""

from __future__ import annotations

import re
from functools import lru_cache

from inhouse.text import detect_language, lexical_terms, stem
from inhouse.text.analyze import EN_STOPWORDS, kiwi

CITATION = re.compile(r"\[(\d{1,2})\]")
# Citations that open a piece of text: written after the previous sentence's end ("…입니다. [1]"), they are its.
LEADING_CITATIONS = re.compile(r"\s*(?:\[\d{1,2}\]\s*)+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Words that carry no fact of their own in an answer sentence.
_FILLER = frozenset(
    "문서 출처 답변 따르 경우 내용 다음 관련 source sources document documents according answer".split()
)
# English number words as the digits a claim may write for them ("6 to 9 percent" for "six to nine percent").
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {w: str(10 * i) for i, w in enumerate(
    "thirty forty fifty sixty seventy eighty ninety".split(), start=3)} | {"hundred": "100", "dozen": "12"}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def numbers(text: str) -> set[str]:
    """The numbers `text` states in digits."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def source_numbers(text: str) -> set[str]:
    """The numbers a source states, in digits or in English words ("almost a hundred years" states 100)."""
    return numbers(text) | {_NUMBER_WORDS[w.lower()] for w in _NUMBER_WORD.findall(text)}


@lru_cache(maxsize=65536)
def match_form(term: str) -> str:
    """The form in which a claim's term and a source's term are compared: an English number word as its
    digits; an English word without its inflection (`stem`: "satellites" is "satellite", "stopped" is "stop";
    derivations stay apart: "formation" is not "form"). Korean terms are lemmas already (Kiwi)."""
    if term in _NUMBER_WORDS:
        return _NUMBER_WORDS[term]
    return stem(term)


def match_forms(term: str) -> list[str]:
    """`term` in its `match_form`; a hyphenated English word as its parts as well ("black-and-yellow" says
    "black" and "yellow")."""
    out = [match_form(term)]
    if "-" in term:
        out += [match_form(p) for p in term.split("-") if p and p not in EN_STOPWORDS]
    return out


def content_terms(text: str) -> set[str]:
    """The terms of `text` that carry its facts (citations and filler words left out), in compared form."""
    return {f for t in lexical_terms(CITATION.sub(" ", text)) if t not in _FILLER for f in match_forms(t)}


@lru_cache(maxsize=1024)
def predicate_terms(text: str, language: str = "") -> frozenset[str]:
    """The terms of a Korean text's predicates: a noun made a verb ("반품할" → 반품) and a verb or adjective
    stem of two syllables or more ("예쁘다" → 예쁘); what a yes/no answer says of its subject. English: none.
    `language`: the text's, where the caller knows it (detected otherwise)."""
    if (language or detect_language(text)) != "ko":
        return frozenset()
    tokens = kiwi().tokenize(text)
    out = {t.form for t, nxt in zip(tokens, tokens[1:], strict=False)
           if t.tag in ("NNG", "NNP", "XR") and nxt.tag in ("XSV", "XSA")}
    out |= {t.form for t in tokens if t.tag in ("VV", "VA") and len(t.form) > 1}
    return frozenset(out)
