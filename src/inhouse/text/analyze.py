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
from collections.abc import Iterable

# Bump when the terms produced for a text change: stores re-derive their terms on the next ingest.
TERMS_VERSION = "1"

# Kiwi tags kept as lexical terms: nouns, numerals, roots, verbs/adjectives (stems), adverbs, foreign.
_KEEP_TAGS = {"NNG", "NNP", "NR", "XR", "VV", "VA", "MAG", "SH", "SL", "SN"}
_NOUN_TAGS = {"NNG", "NNP", "XR", "SH"}
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*[A-Za-z0-9]|[A-Za-z]|\d+(?:[.,]\d+)*")
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

                _kiwi = Kiwi()
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


def _latin_terms(text: str) -> list[str]:
    terms = []
    for w in _LATIN_WORD.findall(text):
        w = w.lower().replace("’", "'").removesuffix("'s").replace(",", "")
        if w and w not in EN_STOPWORDS:
            terms.append(w)
    return terms


def _korean_terms(tokens) -> list[str]:
    terms: list[str] = []
    run: list[str] = []
    run_end = -1

    def flush() -> None:
        if len(run) > 1 or (run and len(run[0]) > 2):
            compound = "".join(run)
            if len(run) > 1:
                terms.append(compound)
            terms.extend(compound[i : i + 2] for i in range(len(compound) - 1))
        run.clear()

    for t in tokens:
        tag = t.tag.split("-")[0]
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


def lexical_terms(text: str) -> list[str]:
    """Index/query terms of one text (Korean morphemes + compounds + bigrams, English words)."""
    return lexical_terms_batch([text])[0]


def lexical_terms_batch(texts: Iterable[str]) -> list[list[str]]:
    """Terms for many texts; Kiwi runs only on texts that contain Hangul, batched."""
    texts = list(texts)
    out = [_latin_terms(t) for t in texts]
    ko_idx = [i for i, t in enumerate(texts) if _HANGUL.search(t)]
    if ko_idx:
        analysed = kiwi().tokenize([texts[i] for i in ko_idx])
        for i, tokens in zip(ko_idx, analysed, strict=True):
            out[i] = _korean_terms(tokens) + out[i]
    return out


_EN_SENT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9가-힣])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`: Kiwi for Korean, punctuation rules for English."""
    spans: list[tuple[int, int]] = []
    if _HANGUL.search(text):
        rough = [(s.start, s.end) for s in kiwi().split_into_sents(text)]
    else:
        rough = [(0, len(text))]
    for start, end in rough:
        piece = text[start:end]
        cut = start
        for m in _EN_SENT.finditer(piece):
            spans.append((cut, start + m.start()))
            cut = start + m.end()
        spans.append((cut, end))
    return [(s, e) for s, e in ((_strip_span(text, s, e)) for s, e in spans) if e > s]


def _strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e
