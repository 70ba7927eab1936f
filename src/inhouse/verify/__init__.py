"""Claim-level verification: the guarantee that an answer says only what its sources say.

The verifier does not trust the model. It splits a draft into claims (sentences, `claims`), and scores each
claim against the text of the sources with deterministic evidence (`support`: coverage, numbers, negation,
and the rules of the question it answers, read once as a `Question`). A claim is supported when its score
reaches the threshold; citations that point at sources which do not support their claim are repaired or the
claim is dropped. Every decision is recorded with its reason (`report`).

    question.py  Question: the question's language, terms and kind, read once per ask
    terms.py     the compared form of terms (English inflection stripped, number words as digits), numbers
    support.py   the rules that score one claim against one source
    claims.py    split_claims and verify: the verdict on each claim of a draft, citations repaired
    report.py    ClaimVerdict and the reasons the rules give
"""

from inhouse.verify.claims import split_claims, verify
from inhouse.verify.question import (
    Question,
    asked_unit,
    asks_for_number,
    is_closed,
    question_names,
    states_unit,
)
from inhouse.verify.report import (
    NO_ANSWER,
    NO_NUMBER,
    NO_PREDICATE,
    NO_UNIT,
    NOT_ASKED,
    OFF_QUESTION,
    UNMENTIONED,
    UNNAMED,
    WRONG_PART,
    ClaimVerdict,
)
from inhouse.verify.support import has_polarity, support
from inhouse.verify.terms import content_terms

__all__ = [
    "NOT_ASKED", "NO_ANSWER", "NO_NUMBER", "NO_PREDICATE", "NO_UNIT", "OFF_QUESTION", "UNMENTIONED", "UNNAMED",
    "WRONG_PART", "ClaimVerdict", "Question", "asked_unit", "asks_for_number", "content_terms", "has_polarity",
    "is_closed", "question_names", "split_claims", "states_unit", "support", "verify",
]
