"""Claim-level verification: the guarantee that an answer says only what its sources say.

The verifier does not trust the model. It splits a draft into claims (sentences), and scores each claim
against the text of the sources with deterministic evidence:

- coverage: the share of the claim's content terms (Kiwi morphemes, English words, numbers) found in
  the source sentence that supports it best;
- numbers: every number in the claim must appear in that source (a changed amount is a hallucination);
- negation: a claim that negates what its best source affirms (or the reverse) is penalised.

A claim is supported when its score reaches `threshold`. Citations that point at sources which do not
support their claim are repaired (pointed at the source that does) or the claim is dropped.
Every decision is recorded with its reason (ragas-style verdicts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from inhouse.text import lexical_terms, split_sentences

CITATION = re.compile(r"\[(\d{1,2})\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"(않|없|못|아니|안 |불가|금지|\bnot\b|\bno\b|\bnever\b|n't\b|\bcannot\b|\bwithout\b)", re.IGNORECASE)
# Words that carry no fact of their own in an answer sentence.
_FILLER = frozenset("문서 출처 답변 따르 경우 내용 다음 관련 source sources document documents according answer".split())


@dataclass
class ClaimVerdict:
    text: str
    verdict: str  # "supported" | "unsupported"
    score: float
    cited: list[int]  # source numbers the model cited
    sources: list[int]  # source numbers kept after repair (supporting ones)
    reason: str
    kept: bool = False
    chunk_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"text": self.text, "verdict": self.verdict, "kept": self.kept, "score": round(self.score, 3),
                "chunk_ids": self.chunk_ids, "reason": self.reason}


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _content_terms(text: str) -> set[str]:
    return {t for t in lexical_terms(CITATION.sub(" ", text)) if t not in _FILLER}


def split_claims(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences of the draft with the citation numbers each carries (markers removed from the text)."""
    claims = []
    spans = split_sentences(answer)
    # A citation written after the sentence end ("…입니다. [1]") belongs to the previous sentence.
    pieces: list[str] = []
    for s, e in spans:
        piece = answer[s:e]
        if pieces and not CITATION.sub("", piece).strip(" ."):
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    for piece in pieces:
        cited = [int(n) for n in CITATION.findall(piece)]
        text = re.sub(r"\s+([.?!。])", r"\1", CITATION.sub("", piece)).strip()
        if re.search(r"\w", text):
            claims.append((text, list(dict.fromkeys(cited))))
    return claims


def support(claim: str, source: str) -> tuple[float, str]:
    """Score (0–1) of `source` supporting `claim`, and the reason, from its best sentence."""
    terms = _content_terms(claim)
    if not terms:
        return 0.0, "no content terms to check"
    claim_numbers = numbers(claim)
    best, best_reason = 0.0, ""
    sentences = [source[s:e] for s, e in split_sentences(source)] or [source]
    # A claim may merge two adjacent source sentences; score windows of one and two sentences.
    windows = sentences + [a + " " + b for a, b in zip(sentences, sentences[1:], strict=False)]
    for sent in windows:
        sent_terms = _content_terms(sent)
        coverage = len(terms & sent_terms) / len(terms)
        missing_numbers = claim_numbers - numbers(sent)
        score, reason = coverage, f"{coverage:.0%} of claim terms in source"
        if missing_numbers:
            score = min(score, 0.3)
            reason = f"numbers not in source: {', '.join(sorted(missing_numbers))}"
        elif bool(_NEGATION.search(claim)) != bool(_NEGATION.search(sent)):
            score *= 0.5
            reason += "; negation differs"
        if score > best:
            best, best_reason = score, reason
    return best, best_reason or "no overlap with source"


def verify(answer: str, sources: dict[int, str], threshold: float = 0.6) -> list[ClaimVerdict]:
    """Verdicts for each claim of `answer` against numbered `sources` (n → text)."""
    verdicts = []
    for text, cited in split_claims(answer):
        scored = {n: support(text, src) for n, src in sources.items()}
        valid_cited = [n for n in cited if n in sources]
        supporting = sorted((n for n in valid_cited if scored[n][0] >= threshold), key=lambda n: -scored[n][0])
        if supporting:
            n = supporting[0]
            verdicts.append(ClaimVerdict(text, "supported", scored[n][0], cited, supporting, f"[{n}] {scored[n][1]}"))
            continue
        best = max(scored, key=lambda n: scored[n][0]) if scored else None
        if best is not None and scored[best][0] >= threshold:
            why = "uncited" if not cited else f"cited {cited} do not support it"
            verdicts.append(ClaimVerdict(text, "supported", scored[best][0], cited, [best],
                                         f"citation repaired to [{best}] ({why}); {scored[best][1]}"))
            continue
        score, reason = (scored[best] if best is not None else (0.0, "no sources"))
        verdicts.append(ClaimVerdict(text, "unsupported", score, cited, [], reason))
    return verdicts
