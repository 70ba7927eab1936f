"""Grounded answers: retrieve → select sentences → generate with citations → verify → answer or abstain.

    pipeline.py  answer_question and Answer: the steps in order, and what an ask returns
    policy.py    AnswerPolicy: the pipeline's knobs, with what each does
    context.py   select_context and Source: the sentences the model is shown, and the relevance gate's score
    prompt.py    the system prompt, worked examples, follow-up, build_messages; NOT_FOUND and ABSTAIN
    quote.py     the extractive fallback: the source sentence quoted when no claim survives
    judge.py     the judge: a model's second look at each kept claim

The question is read once per ask (`inhouse.verify.Question`) and passed to every step.
"""

from inhouse.answer.context import Source, select_context
from inhouse.answer.judge import JUDGE_MIN, JUDGE_SYSTEM, JUDGED, judge, judge_for
from inhouse.answer.pipeline import Answer, answer_question
from inhouse.answer.policy import AnswerPolicy
from inhouse.answer.prompt import (
    ABSTAIN,
    EXAMPLES,
    FOLLOW_UP,
    NOT_FOUND,
    SYSTEM_PROMPT,
    build_messages,
    is_not_found,
)
from inhouse.answer.quote import quote
from inhouse.verify import Question

__all__ = [
    "ABSTAIN", "EXAMPLES", "FOLLOW_UP", "JUDGED", "JUDGE_MIN", "JUDGE_SYSTEM", "NOT_FOUND", "SYSTEM_PROMPT", "Answer",
    "AnswerPolicy", "Question", "Source", "answer_question", "build_messages", "is_not_found", "judge", "judge_for",
    "quote", "select_context",
]
