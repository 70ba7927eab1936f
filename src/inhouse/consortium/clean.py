"""Cleaning a contributed text before it can count: normalisation, language identification, quality filters
(length, repetition, symbols) and PII masked with the guard. Each decision carries its reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from inhouse.guard.pii import detect, replace
from inhouse.text import normalize

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_PUNCT = set(".,!?;:'\"()[]{}-~…·%/&+=<>“”‘’「」『』、。") | {"\n", " "}


@dataclass(frozen=True)
class CleanReport:
    """One text after cleaning: the text to keep (normalised, PII masked), its language, whether it passes the
    filters and, if not, why; how many pieces of PII were masked."""

    text: str
    lang: str
    kept: bool
    reason: str = ""
    pii: int = 0


def language(text: str) -> str:
    """'ko' when Hangul makes up at least a fifth of the letters, 'en' when Latin letters make up most of them,
    else 'other' (and 'other' for text without letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "other"
    hangul = sum(1 for c in letters if _HANGUL.match(c))
    latin = sum(1 for c in letters if c.isascii())
    if hangul * 5 >= len(letters):
        return "ko"
    return "en" if latin * 2 > len(letters) else "other"


def repeated_share(text: str, n: int = 10) -> float:
    """The share of characters (spaces aside) covered by a character n-gram seen earlier in the text: ~0 for
    prose, high for "ㅋㅋㅋㅋ…" or a line pasted over and over (Gopher's duplicate n-gram filter, by characters,
    which suits Korean)."""
    s = "".join(text.split())
    if len(s) < 2 * n:
        return 0.0
    seen: set[str] = set()
    covered = [False] * len(s)
    for i in range(len(s) - n + 1):
        gram = s[i: i + n]
        if gram in seen:
            for j in range(i, i + n):
                covered[j] = True
        else:
            seen.add(gram)
    return sum(covered) / len(s)


def symbol_share(text: str) -> float:
    """The share of characters (spaces aside) that are neither letters, digits nor ordinary punctuation."""
    s = [c for c in text if not c.isspace()]
    if not s:
        return 0.0
    return sum(1 for c in s if not (c.isalnum() or c in _PUNCT)) / len(s)


class Cleaner:
    """The filters a contributed text must pass. Thresholds are the defaults of `inhouse consortium add`."""

    def __init__(self, min_chars: int = 20, max_chars: int = 200_000, languages: tuple[str, ...] = ("ko", "en"),
                 max_repeated: float = 0.3, max_symbols: float = 0.25) -> None:
        self.min_chars, self.max_chars = min_chars, max_chars
        self.languages = languages
        self.max_repeated, self.max_symbols = max_repeated, max_symbols

    def __call__(self, raw: str) -> CleanReport:
        text = normalize(raw)
        found = detect(text)
        if found:
            text = replace(text, found, lambda m: f"[{m.type}]")
        lang = language(text)
        chars = len("".join(text.split()))
        reason = ""
        if chars < self.min_chars:
            reason = f"too short ({chars} characters < {self.min_chars})"
        elif chars > self.max_chars:
            reason = f"too long ({chars} characters > {self.max_chars}); split it"
        elif lang not in self.languages:
            reason = f"language {lang} (kept: {', '.join(self.languages)})"
        elif (rep := repeated_share(text)) > self.max_repeated:
            reason = f"repetitive ({rep:.0%} of characters repeat > {self.max_repeated:.0%})"
        elif (sym := symbol_share(text)) > self.max_symbols:
            reason = f"symbols ({sym:.0%} of characters > {self.max_symbols:.0%})"
        return CleanReport(text, lang, not reason, reason, len(found))
