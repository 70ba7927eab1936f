"""What the model is shown: the sentences of the retrieved chunks that bear on the question, each chunk a
numbered `Source`, and the relevance that gates generation.

Small local models are slow on two cores, so the model sees only what it needs: the sentences that share the
question's terms (and the one after each, which often finishes its thought), within a budget of characters
and of tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from inhouse.text import estimate_tokens, lexical_terms_batch
from inhouse.text.analyze import analyze
from inhouse.types import Hit
from inhouse.verify import Question

# The sources' share of the prompt, in tokens. Prompt processing is what a small model on two cores spends
# its time to first token on (1.5B model, this machine: ~28 ms a token), so ~200 tokens of sources keep the
# first token under 8 s; in KorQuAD samples the gold answer was in the selected sentences as often at
# ~200 tokens (~260 Korean characters) as at ~430 (~590 characters): 136 vs 137 of 150.
CONTEXT_TOKENS = 200


@dataclass
class Source:
    n: int
    chunk_id: int
    doc_path: str
    page: int | None
    text: str  # the selected sentences shown to the model
    chunk_text: str
    heading: str = ""

    def to_json(self) -> dict:
        return {"n": self.n, "chunk_id": self.chunk_id, "doc_path": self.doc_path, "page": self.page}


def select_context(question: Question, hits: list[Hit], budget_chars: int = 600, budget_tokens: int = CONTEXT_TOKENS,
                   max_sources: int = 3) -> tuple[list[Source], float]:
    """The sentences that bear on the question, grouped by chunk, and the best sentence's relevance.

    The sentences fit both budgets: `budget_chars` characters and `budget_tokens` tokens
    (`estimate_tokens`); the first binds English text, the second Korean, whose syllables cost a token
    each. The best sentence is always taken. Relevance = share of the question's content terms found in one
    sentence (or two adjacent ones). (Ranking by the question's words instead, as the verifier counts them,
    showed the gold answer for 459 instead of 443 of the 500 pooled Korean questions of
    bench/answers_pooled.py, but the drafts written from those sentences were no better: 1 more right
    answer, 2 more wrong, 3 fewer gold-removed abstentions of ~450; docs/answers-log.md.)
    """
    q = question.terms
    scored: list[tuple[float, int, int]] = []  # (score, hit rank, sentence index)
    per_hit: list[list[tuple[int, int]]] = []
    best_relevance = 0.0
    # One batched Kiwi pass over the hits and their headings gives sentences and terms alike.
    analyses = analyze([h.text for h in hits])
    headings = lexical_terms_batch([" ".join(h.heading_path) for h in hits])
    for rank, (h, a) in enumerate(zip(hits, analyses, strict=True)):
        spans = a.sentences or [(0, len(h.text))]
        per_hit.append(spans)
        sentence_terms = [set(a.terms(s, e)) | set(headings[rank]) for s, e in spans]
        for i, terms in enumerate(sentence_terms):
            overlap = len(q & terms) / len(q) if q else 0.0
            if i + 1 < len(spans):
                pair = terms | sentence_terms[i + 1]
                best_relevance = max(best_relevance, len(q & pair) / len(q) if q else 0.0)
            best_relevance = max(best_relevance, overlap)
            scored.append((overlap - 0.02 * rank, rank, i))
    scored.sort(key=lambda x: (-x[0], x[1], x[2]))
    chosen: dict[int, set[int]] = {}
    used, tokens = 0, 0.0

    def take(rank: int, j: int) -> bool:
        """Add sentence j of hit `rank` if it fits both budgets (the first sentence always does)."""
        nonlocal used, tokens
        s, e = per_hit[rank][j]
        cost = estimate_tokens(hits[rank].text[s:e])
        if chosen and (used + e - s > budget_chars or tokens + cost > budget_tokens):
            return False
        chosen.setdefault(rank, set()).add(j)
        used, tokens = used + e - s, tokens + cost
        return True

    for score, rank, i in scored:
        if score <= 0 and chosen:
            break
        if rank not in chosen and len(chosen) >= max_sources:
            continue
        # (A sentence already taken as the one after another is not counted again.)
        if i not in chosen.get(rank, ()) and not take(rank, i):
            continue
        # The sentence after a relevant one often finishes its thought (a condition, an amount).
        if i + 1 < len(per_hit[rank]) and i + 1 not in chosen[rank]:
            take(rank, i + 1)
    sources = []
    for n, rank in enumerate(sorted(chosen), start=1):
        h = hits[rank]
        text = " ".join(h.text[per_hit[rank][i][0]:per_hit[rank][i][1]] for i in sorted(chosen[rank]))
        sources.append(Source(n, h.chunk_id, h.doc_path, h.page, text, h.text, " › ".join(h.heading_path)))
    return sources, best_relevance
