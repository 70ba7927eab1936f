"""The extractive fallback: where no claim of the draft survives, quote the source sentence that covers the
question best, with its citation, when it covers enough of the question on its own.
"""

from __future__ import annotations

import re

from inhouse.answer.context import Source
from inhouse.text import has_quantity, lexical_terms, statements
from inhouse.verify import ClaimVerdict, Question, states_unit

# A list item's marker, bullet or number ("- ", "2. ", "3) "), is not part of what a quote says.
_BULLET = re.compile(r"^(?:[-*•·]|\d{1,2}[.)])\s+")
# "대형 가구(소파, 침대, 매트리스)", "large furniture (sofas, beds)": a category named before a parenthesised list.
_ENUMERATION = re.compile(r"([^\W\d_][\w·]*(?: [^\W\d_][\w·]*)?) ?\(([^()]{2,160})\)")


def categories(question: frozenset[str], sources: list[Source]) -> dict[str, list[tuple[str, str, int]]]:
    """For each question term that a source lists inside a category ("대형 가구(소파, 침대)"), the categories
    as (category, the listed item, source number): a sentence about the category speaks of the item too."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for s in sources:
        for m in _ENUMERATION.finditer(s.text):
            kind = m.group(1)
            for item in re.split(r"\s*[,、/]\s*", m.group(2)):
                for t in question & set(lexical_terms(item)):
                    out.setdefault(t, []).append((kind, item.strip(), s.n))
    return out


def quote(question: Question, sources: list[Source]) -> tuple[str, list[ClaimVerdict], float]:
    """Quote the source sentence that covers the question best (with its heading), with its citation; and
    that coverage.

    A question for a count or an amount is answered only by a sentence that states a number.
    """
    # Coverage counts the question's words, not its terms: a long name's bigrams outweighed the rest of it.
    q = question.words
    wants_number = question.wants_number
    unit = question.unit
    kinds = categories(q, sources)
    last = next((t for t in reversed(question.lexical) if t in q), "") if question.closed else ""
    # What an open Korean question asks of its subject (당선되었던, 사망한, 받아들이는): a sentence that says
    # none of it is about the subject, not the answer ("반기문 유엔 사무총장이 … 보도했다" for "반기문이 유엔
    # 사무총장에 당선되었던 날은?").
    asked = question.predicates if not last else frozenset()
    best = None
    for s in sources:
        # A sentence under "반품 기간" speaks of the return period without naming it (as in select_context).
        heading = set(lexical_terms(s.heading)) if s.heading else set()
        for a, b in statements(s.text):
            sent = s.text[a:b]
            terms = set(lexical_terms(sent))
            covered = q & (terms | heading)
            # "소파" is covered by a sentence on "대형 가구" where a source lists 소파 among the 대형 가구.
            named = {t: k for t in q - covered for k in kinds.get(t, ()) if k[0].lower() in sent.lower()}
            score = len(covered | set(named)) / len(q) if q else 0.0
            # Between sentences that cover the question alike, the one that says least besides answers it
            # ("14일 이내에 반품을 신청할 수 있습니다" over a longer sentence on defects that also has 반품);
            # for a yes/no question, first the one that says what it asks about itself ("…반품할 수 있나요?":
            # 반품, not a sentence on repairs whose heading says 반품). Preferring the question's last word
            # for every question cost a right Korean answer on the recorded drafts of bench/answers.py.
            key = (score, bool(last) and last in terms, len(q & terms) / len(terms) if terms else 0.0)
            if wants_number and not (has_quantity(sent) and (not unit or states_unit(sent, unit))):
                continue
            if asked and not asked & (terms | heading):
                continue
            if best is None or key > best[0]:
                best = (key, sent, s, named)
    if best is None:
        return "", [], 0.0
    (score, _, _), sent, src, named = best
    sent = _BULLET.sub("", sent)
    lead = "문서에 따르면: " if question.language == "ko" else "According to the documents: "
    # Each category the quote was matched through is shown with the source that lists the question's word
    # in it: "(대형 가구: 소파 [2])".
    links: dict[tuple[str, int], str] = {}
    for kind, item, n in sorted(named.values()):
        links.setdefault((kind, n), item)
    cited = [src.n] + [n for (_, n) in links if n != src.n]
    by_n = {x.n: x for x in sources}
    claim = ClaimVerdict(sent, "supported", score, [src.n], cited,
                         f"quoted verbatim from the source ({score:.0%} of the question's terms"
                         + "".join(f"; {item} is listed under {kind} in [{n}]" for (kind, n), item in links.items())
                         + ")", kept=True, chunk_ids=[by_n[n].chunk_id for n in cited])
    note = "".join(f" ({kind}: {item} [{n}])" for (kind, n), item in links.items())
    return f"{lead}\u201c{sent}\u201d [{src.n}]{note}", [claim], score
