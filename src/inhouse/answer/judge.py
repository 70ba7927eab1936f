"""The judge: a second look, by a model, at each claim the verifier keeps. Asked whether the claim's source
sentence says that it answers the question, the model's log-odds of Yes must reach a minimum per language.
"""

from __future__ import annotations

import math

from inhouse.config import Settings
from inhouse.protocols import ChatModel
from inhouse.verify import ClaimVerdict

JUDGED = "the model, asked whether its source sentence answers the question, said no: log-odds"
JUDGE_SYSTEM = "You check whether a source sentence answers a question. Reply with one word: Yes or No."
# The least log-odds of the judge's Yes that a kept claim needs, per language (a language absent is not judged).
# At 0 it stops wrong answers on the recorded drafts of bench/answers.py at the cost of a few more refusals
# (bench/answers_pooled.py with and without --no-judge; docs/answers-log.md). It judges the draft's claims
# only: judging the fallback's quotes and the English follow-up's claims as well cost 5 right Korean and 6 right
# English answers of ~500 for 5 fewer wrong answers and 3 more gold-removed abstentions.
JUDGE_MIN = {"ko": 0.0, "en": 0.0}


def judge_messages(question: str, claim: str, evidence: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Source: {evidence}\nQuestion: {question}\nAnswer: {claim}\n"
                                        "Does the source say that this is the answer to the question?"}]


def judge(model: ChatModel, question: str, claim: str, evidence: str) -> float:
    """The log-odds that `evidence` says `claim` answers `question`, as `model` judges it (one token, greedy):
    from the log-probability of its Yes or No where the backend reports it, else ±4 for its word."""
    reply = model.complete(judge_messages(question, claim, evidence), max_tokens=1, temperature=0.0)
    word = reply.text.strip().lower()
    yes = word.startswith("yes")
    if not yes and not word.startswith("no"):
        return 0.0  # neither word: no opinion
    p = min(max(math.exp(reply.logprobs[0]) if reply.logprobs else 0.982, 1e-6), 1 - 1e-6)  # 0.982: log-odds 4
    odds = math.log(p / (1 - p))
    return odds if yes else -odds


def judge_for(chat: ChatModel, settings: Settings) -> ChatModel | None:
    """The judge to give `answer_question` with `chat`: its twin (`ChatModel.twin`: an in-process model's
    second instance, whose own KV state leaves the answer prompt's cached prefix alone; a served model's
    endpoint itself), or none when `settings.judge` is off or the model has no twin (a scripted test model)."""
    return chat.twin() if settings.judge else None


def judge_claims(model: ChatModel, question: str, claims: list[ClaimVerdict], minimum: float) -> None:
    """Put each kept claim to `model` (see `judge`): one whose log-odds fall below `minimum` is no longer kept,
    with the log-odds as its reason; the others note theirs."""
    for c in claims:
        if not c.kept:
            continue
        odds = judge(model, question, c.text, c.evidence or c.text)
        if odds < minimum:
            c.verdict, c.kept, c.reason = "unsupported", False, f"{JUDGED} {odds:.2f}; {c.reason}"
        else:
            c.reason += f"; judged {odds:.2f}"
