"""Text analysis for retrieval: one place decides what a "term" is, for indexing and for queries alike.

Korean runs go through Kiwi (morphemes); Latin words and numbers are handled by a small regex tokenizer
because Kiwi splits English words unpredictably. For Korean, content morphemes are kept, and every run of
adjacent nouns is also emitted as one compound plus its character bigrams, so that "연회비" matches
"연 회비" and "회비" whichever way Kiwi segments a given sentence.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

# Bump when the terms produced for a text change: stores re-derive their terms on the next ingest.
TERMS_VERSION = "3"

# Kiwi tags kept as lexical terms: nouns, numerals, roots, verbs/adjectives (stems), adverbs, foreign.
_KEEP_TAGS = {"NNG", "NNP", "NR", "XR", "VV", "VA", "MAG", "SH", "SL", "SN"}
_NOUN_TAGS = {"NNG", "NNP", "XR", "SH"}
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")
# Words in Latin, Greek and Cyrillic letters, accented ones included ("Zürich", "São"), and numbers.
_L = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff"
_LATIN_WORD = re.compile(rf"[{_L}][{_L}0-9'’\-]*[{_L}0-9]|[{_L}]|\d+(?:[.,]\d+)*")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060\ufeff]")

# Function words too common to help ranking; removing them keeps OR queries cheap at 100k chunks.
EN_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it
    its me my no not of on or our so than that the their them then there these they this to was we were
    what when where which who whom why will with would you your""".split()
)

_kiwi = None
_kiwi_lock = threading.Lock()


def kiwi():
    """The process-wide Kiwi analyser (loading it takes ~1.5 s and ~500 MB, so it is done once)."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi

                # Typo correction is for chat text; documents are analysed as written (and faster).
                _kiwi = Kiwi(load_typo_dict=False)
    return _kiwi


def normalize(text: str) -> str:
    """NFKC, no zero-width characters, collapsed horizontal spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip()


def detect_language(text: str) -> str:
    """'ko' when Hangul makes up at least a fifth of the letters, else 'en'."""
    hangul = sum(len(m) for m in _HANGUL.findall(text))
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    return "ko" if hangul and hangul * 4 >= latin else "en"


def _fold(word: str) -> str:
    """A word without its accents: "Zürich" and "Zurich" are one term, as people type either."""
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _latin_terms(text: str) -> list[str]:
    terms = []
    for w in _LATIN_WORD.findall(text):
        w = _fold(w.lower().replace("’", "'").removesuffix("'s").replace(",", ""))
        if w and w not in EN_STOPWORDS:
            terms.append(w)
    return terms


def _korean_terms(tokens, compounds: bool = True) -> list[str]:
    """Content morphemes; with `compounds`, each run of adjacent nouns as one compound and its bigrams too."""
    terms: list[str] = []
    run: list[str] = []
    run_end = -1

    def flush() -> None:
        if compounds and (len(run) > 1 or (run and len(run[0]) > 2)):
            compound = "".join(run)
            if len(run) > 1:
                terms.append(compound)
            terms.extend(compound[i : i + 2] for i in range(len(compound) - 1))
        run.clear()

    for t in tokens:
        tag = t.tag.split("-")[0]
        parts = (t.form or "").split()
        if tag in _NOUN_TAGS and len(parts) > 1 and all(_HANGUL.fullmatch(p) for p in parts):
            # Kiwi reads a spaced name as one noun ("데릭 지터", "쇼와 천황"): its words are terms, and the
            # name is one compound, as "데릭지터" written without the space would be.
            flush()
            terms.extend(parts)
            run.extend(parts)
            run_end = t.start + t.len
            continue
        if tag in ("SL", "SN", "SH") or not _HANGUL.fullmatch(t.form or ""):
            flush()
            continue  # Latin words and numbers come from the regex tokenizer
        if tag in _KEEP_TAGS and not (tag in ("VV", "VA") and len(t.form) < 2):
            terms.append(t.form)
        if tag in _NOUN_TAGS:
            if run and t.start != run_end:
                flush()
            run.append(t.form)
            run_end = t.start + t.len
        else:
            flush()
    flush()
    return terms


@dataclass
class Analysis:
    """One Kiwi pass over a text: its sentences (spans) and morphemes, reused for chunking and terms."""

    text: str
    sentences: list[tuple[int, int]]
    tokens: list = field(default_factory=list)  # kiwipiepy Tokens (empty for text without Hangul)

    def terms(self, start: int = 0, end: int | None = None, compounds: bool = True) -> list[str]:
        """Lexical terms of text[start:end], from the stored morphemes (no second Kiwi pass); without
        `compounds`, its words only (`word_terms`)."""
        end = len(self.text) if end is None else end
        return _korean_terms(self.tokens_in(start, end), compounds) + _latin_terms(self.text[start:end])

    def tokens_in(self, start: int, end: int) -> list:
        """The morphemes within text[start:end]. Kiwi's tokens come in text order: they are found by bisection,
        so each chunk of a long paragraph costs its own tokens, not the paragraph's."""
        part = self.tokens[bisect_left(self._starts, start):bisect_right(self._starts, end)]
        return [t for t in part if t.start + t.len <= end]

    @cached_property
    def _starts(self) -> list[int]:
        return [t.start for t in self.tokens]


def analyze(texts: Iterable[str]) -> list[Analysis]:
    """Analyse texts in one batched Kiwi call (only those with Hangul go through Kiwi)."""
    texts = list(texts)
    out = [Analysis(t, _split_english(t, [(0, len(t))])) for t in texts]
    ko_idx = [i for i, t in enumerate(texts) if _HANGUL.search(t)]
    if ko_idx:
        for i, tokens in zip(ko_idx, kiwi().tokenize([texts[i] for i in ko_idx]), strict=True):
            out[i] = Analysis(texts[i], _split_english(texts[i], _kiwi_sentences(texts[i], tokens)), tokens)
    return out


def lexical_terms(text: str) -> list[str]:
    """Index/query terms of one text (Korean morphemes + compounds + bigrams, English words)."""
    return lexical_terms_batch([text])[0]


def word_terms(text: str) -> list[str]:
    """The terms of `text`'s words: Korean content morphemes (a spaced name's words each) and English words,
    without the compounds and character bigrams that `lexical_terms` adds for matching. A share of a
    question's terms counts its words alike this way, where a long name ("마리 앙투아네트": 9 terms) would
    outweigh the rest of the question."""
    return analyze([text])[0].terms(compounds=False)


def lexical_terms_batch(texts: Iterable[str]) -> list[list[str]]:
    """Terms for many texts; Kiwi runs only on texts that contain Hangul, batched."""
    return [a.terms() for a in analyze(texts)]


# Numerals Kiwi tags as determiners (MM): "세 개", "스무 곡", "첫 번째".
_NUMERAL_MM = frozenset("한 두 세 네 다섯 여섯 일곱 여덟 아홉 열 스무 서른 마흔 쉰 첫 서너 두세".split())
_EN_NUMBER = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|dozen|first|second|third|twice|thrice)\b", re.IGNORECASE)


def has_quantity(text: str) -> bool:
    """Whether `text` states a number: digits, an English number word, or a Korean numeral (Kiwi NR/MM)."""
    if re.search(r"\d", text) or _EN_NUMBER.search(text):
        return True
    if not _HANGUL.search(text):
        return False
    return any(t.tag == "NR" or (t.tag == "MM" and t.form in _NUMERAL_MM) for t in kiwi().tokenize(text))


# A Hangul syllable or a Hanja (CJK ideograph): about one token each.
_SYLLABLE = re.compile(r"[\uac00-\ud7a3\u3400-\u4dbf\u4e00-\u9fff]")


def estimate_tokens(text: str) -> float:
    """About how many tokens a BPE model's tokenizer makes of `text`: a Hangul syllable or a Hanja costs one,
    any other character a fifth of one (fitted on KorQuAD and XQuAD sentences with Qwen2.5's tokenizer: 0.96
    and 0.22, median error 11%; KorQuAD's Hanja 0.99 a character). A Korean sentence costs about three times
    an English one of the same length."""
    syllables = len(_SYLLABLE.findall(text))
    return syllables + 0.22 * (len(text) - syllables)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`: Kiwi for Korean, punctuation rules for English."""
    return analyze([text])[0].sentences


# A line that starts a list item or a table row begins a statement of its own, with or without a full stop
# before it ("- 일반 택배 상품: 왕복 배송비 6,000원\n- 대형 가구: … 50,000원" are two facts, not one).
_ITEM_LINE = re.compile(r"\n[ \t]*(?=[-*•·|]\s|\d{1,2}[.)]\s)")


def statements(text: str) -> list[tuple[int, int]]:
    """Sentence spans (see `split_sentences`) cut further where a line starts a list item or a table row:
    the units a claim is checked against and a quote is taken from."""
    cuts = [0] + [m.end() for m in _ITEM_LINE.finditer(text)] + [len(text)]
    blocks = [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if text[a:b].strip()]
    spans: list[tuple[int, int]] = []
    for (a, _b), analysis in zip(blocks, analyze([text[a:b] for a, b in blocks]), strict=True):
        spans.extend(_strip_span(text, a + s, a + e) for s, e in analysis.sentences)
    return [(s, e) for s, e in spans if e > s]


def _kiwi_sentences(text: str, tokens) -> list[tuple[int, int]]:
    """Sentence spans from Kiwi's sent_position; each runs to the next one so no character is lost."""
    starts: list[int] = []
    last = -1
    for t in tokens:
        if t.sent_position != last:
            starts.append(t.start)
            last = t.sent_position
    if not starts:
        return [(0, len(text))]
    starts[0] = 0
    return list(zip(starts, starts[1:] + [len(text)], strict=True))


_EN_SENT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9가-힣])")


def _after_list_number(piece: str, end: int) -> bool:
    """Whether the line of `piece` that ends at `end` is only a list number ("  1."), read backwards from
    `end` (a regex search from the line start would rescan the line for every sentence end in it)."""
    i = end - 1
    if i < 0 or piece[i] != ".":
        return False
    digits = 0
    while digits < 3 and i > 0 and piece[i - 1].isdecimal():
        i -= 1
        digits += 1
    if not 1 <= digits <= 2:
        return False
    while i > 0 and piece[i - 1] in " \t":
        i -= 1
    return i == 0 or piece[i - 1] == "\n"


def _split_english(text: str, rough: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Refine spans at English sentence ends (Kiwi keeps "A. B." together when there is no Hangul)."""
    spans: list[tuple[int, int]] = []
    for start, end in rough:
        piece = text[start:end]
        cut = start
        for m in _EN_SENT.finditer(piece):
            if _after_list_number(piece, m.start()):  # "1. Standard parcels…" is one item
                continue
            spans.append((cut, start + m.start() + len(m.group(0).rstrip())))
            cut = start + m.end()
        spans.append((cut, end))
    return [(s, e) for s, e in (_strip_span(text, s, e) for s, e in spans) if e > s]


def _strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e
