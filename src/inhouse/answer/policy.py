"""The knobs of the answer pipeline, in one place: `AnswerPolicy`. The defaults are what `inhouse ask` and
the server use; the benches and the evals change one or two to measure them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from inhouse.answer.judge import JUDGE_MIN


@dataclass(frozen=True)
class AnswerPolicy:
    """The knobs of `answer_question`, each with what it does."""

    # Chunks retrieved per question (hybrid with an embedder, lexical without).
    k: int = 6
    # The pre-generation gate: share of the question's content terms in the best source sentence (or pair of
    # adjacent ones); below it InHouse abstains without generating and shows the nearest sources.
    min_relevance: float = 0.34
    # Support score (0-1, `inhouse.verify.support`) a claim needs to be kept.
    verify_threshold: float = 0.6
    # Most tokens of the draft; a draft cut off mid-sentence loses its unfinished last claim.
    max_tokens: int = 256
    # Share of the question's words the quoted sentence must cover by itself for the extractive fallback.
    # At 0.5 it quoted sentences that merely share the question's generic words ("last year") for questions
    # the documents cannot answer (bench/answers.py, 8+8 questions a language: 4 of 5 wrong quotes at
    # 0.50–0.64, right ones at 0.71–0.92). The sentence itself must cover them: gating on the best pair of
    # adjacent sentences let through quotes of one sentence covering 0.54–0.62 (3 of 11 wrong Korean answers
    # with the gold paragraph removed).
    min_quote_relevance: float = 0.7
    # Most tokens of the follow-up: the second reply asked for when the draft says nothing and nothing is
    # close enough to quote (`prompt.FOLLOW_UP`).
    follow_up_tokens: int = 96
    # Languages whose empty drafts get the follow-up. Korean ones are not asked: their follow-ups copy
    # sentences near the question that do not answer it, and Korean quotes already answer most such drafts.
    follow_up_langs: tuple[str, ...] = ("en",)
    # Show `prompt.EXAMPLES` before the question. Off: with them the model answers far more questions
    # (bench/answers.py: raw recall ko 0.70, en 0.84) but the verifier lets more wrong answers through when
    # the gold paragraph is gone (abstention 0.78–0.90 ko, 0.84–0.86 en), and on `make demo` it answers
    # "반품 기간" with the defect rule (30 days, not 14) and refuses the sofa-to-Jeju question. Runs with it
    # pair it with unsure_langs=("ko",), calibrated on its drafts.
    worked_examples: bool = False
    # In a language of `unsure_langs`, a draft with a token the model chose below this log-probability keeps
    # no claim (where the backend reports log-probabilities). With the worked examples, Korean drafts the
    # verifier kept whose least likely token was below -1.4 were 7 of the 13 wrong answers with the gold
    # paragraph removed and 2 of the 40 right ones (bench/answers.py --worked-examples); English drafts showed
    # no such split (kept right answers down to -1.5).
    unsure_logprob: float = -1.4
    unsure_langs: tuple[str, ...] = ()
    # Least log-odds of the judge's Yes (`judge.judge`) a kept claim needs, per language; a language absent
    # is not judged. Applies only when `answer_question` is given a judge model.
    judge_min: Mapping[str, float] = field(default_factory=lambda: dict(JUDGE_MIN))
