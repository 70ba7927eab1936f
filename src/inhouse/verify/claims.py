"""The claims of an answer: a draft split into sentences with their citations, and a verdict for each.

A claim is supported when a source scores it at `threshold` or more (`support`). Citations that point at
sources which do not support their claim are repaired (pointed at the source that does) or the claim is
dropped.
"""

from __future__ import annotations

import re

from inhouse.text import detect_language, has_quantity, split_sentences
from inhouse.verify.question import Question, as_question, states_unit
from inhouse.verify.report import NO_NUMBER, NO_UNIT, ClaimVerdict
from inhouse.verify.support import best_support
from inhouse.verify.terms import CITATION, LEADING_CITATIONS, content_terms

# ("No." is not among them: it is the answer to a yes/no question far more often than "number".)
_ABBREVIATION = re.compile(r"\b(?:vol|vols|pp?|fig|figs|ch|mr|mrs|ms|dr|st|jr|sr|vs|ca|approx|e\.g|i\.e)\.\s*$",
                           re.IGNORECASE)
# A capital letter and a full stop after a name is an initial ("Nicholas E. Golovin", "하워드 W. 오덤"), not a
# sentence end ("option B.", "World War I." end theirs).
_INITIAL = re.compile(r"(?:^|[\s(])(?:[A-Z][a-z]+|[^\W\d_A-Za-z]+)\s+(?:[A-HJ-Z]\.\s*)+$")


def split_claims(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences of the draft with the citation numbers each carries (markers removed from the text)."""
    claims = []
    spans = split_sentences(answer)
    # A citation written after the sentence end ("…입니다. [1]") belongs to the previous sentence, and so
    # does what follows an abbreviation ("in 1795 (Vol. 1, Vol. 2)." is one claim, not three).
    pieces: list[str] = []
    for s, e in spans:
        piece = answer[s:e]
        if pieces and (lead := LEADING_CITATIONS.match(piece)):
            pieces[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end():]
        before = CITATION.sub("", pieces[-1]) if pieces else ""
        if pieces and (not CITATION.sub("", piece).strip(" .") or _ABBREVIATION.search(before)
                       or _INITIAL.search(before)):
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    for piece in pieces:
        cited = [int(n) for n in CITATION.findall(piece)]
        text = re.sub(r"\s+([.?!。])", r"\1", CITATION.sub("", piece)).strip()
        if re.search(r"\w", text):
            claims.append((text, list(dict.fromkeys(cited))))
    return claims


def verify(answer: str, sources: dict[int, str], threshold: float = 0.6, question: Question | str = "",
           headings: dict[int, str] | None = None) -> list[ClaimVerdict]:
    """Verdicts for each claim of `answer` against numbered `sources` (n → text).

    With the `question` the answer replies to, a claim must add to it (unless the question is closed: yes/no,
    or a choice), a Korean claim's restatement of it must be supported too, and a question for a count or
    an amount needs a claim with a number, and a claim is supported only by a sentence that (with the
    source's heading, from `headings`: n → heading path) is about the question.
    """
    q = as_question(question)
    wants_number = q is not None and q.wants_number
    unit = q.unit if q else ()
    heading_terms = {n: frozenset(content_terms(h)) for n, h in (headings or {}).items() if h}
    verdicts = []
    for text, cited in split_claims(answer):
        if wants_number and not has_quantity(text):
            verdicts.append(ClaimVerdict(text, "unsupported", 0.0, cited, [], NO_NUMBER))
            continue
        if unit and not states_unit(text, unit):
            verdicts.append(ClaimVerdict(text, "unsupported", 0.0, cited, [], f"{NO_UNIT}: {unit[0]}"))
            continue
        language = detect_language(text)
        scored = {n: best_support(text, src, q, heading_terms.get(n, frozenset()), language)
                  for n, src in sources.items()}
        valid_cited = [n for n in cited if n in sources]
        supporting = sorted((n for n in valid_cited if scored[n][0] >= threshold), key=lambda n: -scored[n][0])
        if supporting:
            n = supporting[0]
            verdicts.append(ClaimVerdict(text, "supported", scored[n][0], cited, supporting, f"[{n}] {scored[n][1]}",
                                         evidence=scored[n][2]))
            continue
        best = max(scored, key=lambda n: scored[n][0]) if scored else None
        if best is not None and scored[best][0] >= threshold:
            why = "uncited" if not cited else f"cited {cited} do not support it"
            verdicts.append(ClaimVerdict(text, "supported", scored[best][0], cited, [best],
                                         f"citation repaired to [{best}] ({why}); {scored[best][1]}",
                                         evidence=scored[best][2]))
            continue
        if valid_cited:  # an unsupported claim's reason is that of the source it cites, where it cites one
            best = max(valid_cited, key=lambda n: scored[n][0])
        score, reason = (scored[best][:2] if best is not None else (0.0, "no sources"))
        verdicts.append(ClaimVerdict(text, "unsupported", score, cited, [], reason))
    return verdicts
