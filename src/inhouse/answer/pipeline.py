"""Grounded answers: retrieve → select sentences → generate with citations → verify → answer or abstain.

`answer_question` runs the steps; the other modules of `inhouse.answer` hold them. When retrieval finds
nothing relevant, InHouse abstains before generating. After generation the verifier keeps only supported
claims; when none survive, an extractive answer quotes the best supporting sentence, or InHouse abstains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inhouse.answer.context import Source, select_context
from inhouse.answer.judge import judge_claims
from inhouse.answer.policy import AnswerPolicy
from inhouse.answer.prompt import ABSTAIN, FOLLOW_UP, NOT_FOUND, build_messages, is_not_found
from inhouse.answer.quote import quote
from inhouse.config import Settings
from inhouse.guard.egress import allow_list_from
from inhouse.guard.screening import REFUSAL, Screening, allowed_hosts
from inhouse.guard.view import ReaderView
from inhouse.protocols import ChatModel, Embedder, Store
from inhouse.retrieve import search
from inhouse.types import Hit, Principal
from inhouse.verify import NO_ANSWER, NO_NUMBER, ClaimVerdict, Question, verify

log = logging.getLogger(__name__)

# The reason given to claims dropped because the draft was a guess (`AnswerPolicy.unsure_logprob`).
UNSURE = "the model was unsure of its draft: least likely token's log-probability"
DEFAULT_POLICY = AnswerPolicy()


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    mode: str  # generated | extractive | abstained
    sources: list[Source]
    claims: list[ClaimVerdict] = field(default_factory=list)
    draft: str = ""
    model: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    nearest: list[Hit] = field(default_factory=list)
    # Share of the question's content terms found in the best retrieved sentence (the pre-generation gate).
    relevance: float = 0.0
    screening: Screening | None = None  # what the guard flagged, refused or stripped (inhouse.guard)
    follow_up: str = ""  # the model's second reply, when the draft said nothing (see answer_question)
    # The log-probability of each token of the draft as the model chose it, where the backend reports it.
    draft_logprobs: list[float] = field(default_factory=list)

    def cited_sources(self) -> list[Source]:
        used = {n for c in self.claims if c.kept for n in c.sources}
        return [s for s in self.sources if s.n in used]

    def to_json(self) -> dict:
        return {
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [s.to_json() for s in self.cited_sources()],
            "claims": [c.to_json() for c in self.claims],
            "model": self.model,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "mode": self.mode,
            "relevance": round(self.relevance, 3),
            "nearest": [h.to_json() | {"text": None} for h in self.nearest] if self.abstained else [],
        } | ({"screening": self.screening.to_json()} if self.screening and self.screening.any else {})


def _rule(reason: str) -> str:
    """The rules a verdict's reason names, without what follows a colon (numbers or words of the claim):
    what the logs may say of a claim."""
    return "; ".join(part.split(":", 1)[0].strip() for part in reason.split(";"))


def _log_claims(step: str, claims: list[ClaimVerdict]) -> None:
    if log.isEnabledFor(logging.DEBUG):
        kept = sum(c.kept for c in claims)
        log.debug("%s: %d claims, %d kept%s", step, len(claims), kept,
                  "".join(f"; claim {i} {c.verdict} {c.score:.2f} ({_rule(c.reason)})" for i, c in enumerate(claims, 1)))


def _cited(c: ClaimVerdict) -> str:
    """A kept claim as the answer writes it: its citations before its full stop."""
    body = c.text.rstrip()
    end = body[-1] if body[-1] in ".?!。" else ""
    return body.rstrip(".?!。") + "".join(f"[{n}]" for n in c.sources) + end


def answer_question(store: Store, principal: Principal, question: str, settings: Settings, model: ChatModel,
                    embedder: Embedder | None = None, on_token: Callable[[str], None] | None = None,
                    judge_model: ChatModel | None = None, view: ReaderView | None = None,
                    policy: AnswerPolicy = DEFAULT_POLICY) -> Answer:
    """Answer `question` from the documents `principal` may read, or abstain.

    `policy` holds the knobs (`AnswerPolicy`: the gate, the verifier's threshold, the fallback's, the
    follow-up, the worked examples). With `judge_model`, every claim the verifier keeps is put to it with the
    sentence that supports it (`judge`), and kept only where the log-odds of its Yes reach
    `policy.judge_min[lang]`; `judge_for` gives the judge that `inhouse ask` and the server use (a second
    instance of the same GGUF keeps both prompts' KV state). `on_token` receives the model's reply as it is
    written, screened for the reader.

    The principal's reader view (`view`, inhouse.guard.view) screens the question (refused when it tries
    to override the rules), the retrieved chunks (injected instructions neutralized; PII masked unless the
    reader is cleared: retrieval applies it) and the answer (links to hosts absent from the sources and the
    config stripped).
    """
    t0 = time.perf_counter()
    view = view or ReaderView(principal)
    # The question is screened (hidden characters removed), then read once: every step below asks `q`.
    text, screening = view.question(question)
    q = Question(text)
    lang = q.language
    if screening.refused:
        log.info("question of %s@%s refused by screening (%s)", principal.user, principal.tenant,
                 ", ".join(screening.question_flags))
        return Answer(text, REFUSAL[lang], True, "refused", [], model=model.name, screening=screening,
                      timings={"retrieval_s": 0.0, "first_token_s": 0.0, "total_s": time.perf_counter() - t0})
    hits = search(store, principal, text, settings, k=policy.k, mode="hybrid" if embedder else "lexical",
                  embedder=embedder, view=view).hits
    screening.chunk_flags.update({h.chunk_id: list(h.flags) for h in hits if h.flags})
    sources, relevance = select_context(q, hits)
    hosts = allowed_hosts([s.text for s in sources], allow_list_from(settings.egress_allow))
    timings = {"retrieval_s": time.perf_counter() - t0}
    replies: list[str] = []  # what the model said: the draft, and the follow-up when it was asked
    logprobs: list[float] = []  # the draft's token log-probabilities

    def finish(a: Answer) -> Answer:
        # Whatever the model wrote is shown only as the reader may see it.
        a.answer = view.answer(a.answer, hosts, screening) if not a.abstained else a.answer
        a.draft = view.written(a.draft, hosts)
        a.follow_up = view.written(replies[1], hosts) if len(replies) > 1 else ""
        for c in a.claims:
            c.text = view.written(c.text, hosts)
        a.screening = screening
        a.relevance = relevance
        a.draft_logprobs = logprobs
        return a

    def abstain(why: str, draft: str = "", claims: list[ClaimVerdict] | None = None) -> Answer:
        timings["total_s"] = time.perf_counter() - t0
        log.debug("abstained for %s@%s: %s (%.2f s)", principal.user, principal.tenant, why, timings["total_s"])
        return finish(Answer(text, ABSTAIN[lang], True, "abstained", sources, claims or [], draft, model.name,
                             timings, nearest=hits[:3]))

    if not sources or relevance < policy.min_relevance:
        timings["first_token_s"] = 0.0
        return abstain(f"relevance {relevance:.2f} under the gate {policy.min_relevance:.2f}" if sources else
                       f"no source sentence selected from {len(hits)} hits")
    flush: Callable[[], None] | None = None
    if on_token:
        on_token, flush = view.stream(on_token, hosts)

    def generate(messages: list[dict[str, str]], limit: int) -> tuple[str, bool]:
        """The model's reply (streamed to `on_token`) and whether it stopped at `limit` tokens."""

        def piece(text: str) -> None:
            timings.setdefault("first_token_s", time.perf_counter() - t0)
            if on_token:
                on_token(text)

        reply = model.complete(messages, max_tokens=limit, temperature=0.0, on_piece=piece)
        if flush:
            flush()
        # An empty reply's first token is its end.
        timings.setdefault("first_token_s", time.perf_counter() - t0)
        replies.append(reply.text.strip())
        if len(replies) == 1:
            logprobs.extend(reply.logprobs)
        return replies[-1], reply.finish == "length"

    # Claims are checked as the reader reads them: a cleared reader asks about "김민수" whose name the stored
    # chunk holds as a PII token, and an uncleared one sees both masked.
    views = {s.n: view.revealed(s.chunk_text) for s in sources}
    headings = {s.n: s.heading for s in sources}

    def check(reply: str, truncated: bool) -> tuple[list[ClaimVerdict], list[str]]:
        """The verdicts on the claims of `reply`, and the kept claims with their citations."""
        claims = verify(view.revealed(reply.replace(NOT_FOUND, "")), views, policy.verify_threshold, q, headings)
        if claims and truncated and not reply.rstrip().endswith((".", "?", "!", "。", "]", ")")):
            # Generation hit max_tokens mid-sentence: an unfinished claim is not a claim. (A short answer
            # without a full stop, such as "1997년 12월 20일", is complete.)
            claims[-1].verdict, claims[-1].reason = "unsupported", "incomplete sentence (generation stopped)"
        kept = []
        for c in claims:
            c.chunk_ids = [by_n[n].chunk_id for n in c.sources]
            if c.verdict == "supported":
                c.kept = True
                kept.append(_cited(c))
        return claims, kept

    def answered(reply: str, mode: str, claims: list[ClaimVerdict]) -> Answer:
        timings["total_s"] = time.perf_counter() - t0
        log.debug("answered for %s@%s: %s, %d of %d claims kept (%s)", principal.user, principal.tenant, mode,
                  sum(c.kept for c in claims), len(claims), ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
        return finish(Answer(text, reply, False, mode, sources, claims, draft, model.name, timings))

    by_n = {s.n: s for s in sources}
    messages = build_messages(text, sources, policy.worked_examples)
    draft, truncated = generate(messages, policy.max_tokens)
    timings["generation_s"] = time.perf_counter() - t0 - timings["retrieval_s"]
    if is_not_found(draft):
        # The small models reply NOT_FOUND to yes/no questions whose answer a source states in other words
        # ("주문제작 가구도 반품할 수 있나요?" → "주문 제작한 가구는 … 반품하거나 교환할 수 없습니다"): there
        # a sentence that covers the question is the answer. Open questions get no such second chance: on
        # bench/answers.py their NOT_FOUND drafts came from questions whose answer had been removed.
        if q.closed:
            quoted_text, quoted, coverage = quote(q, sources)
            if quoted_text and coverage >= policy.min_quote_relevance:
                return answered(quoted_text, "extractive", quoted)
        return abstain("the model found no answer in the sources" + (
            f"; best quote covers {coverage:.2f}, under {policy.min_quote_relevance:.2f}" if q.closed else ""), draft)
    claims, kept_parts = check(draft, truncated)
    _log_claims("verified the draft", claims)
    # The token the model was least sure of (the stop token aside): below `unsure_logprob` the draft is a
    # guess, whatever words it shares with the sources.
    sure = min(logprobs[:-1] or logprobs) if logprobs else 0.0
    if kept_parts and lang in policy.unsure_langs and sure < policy.unsure_logprob:
        for c in claims:
            if c.verdict == "supported":
                c.verdict, c.kept, c.reason = "unsupported", False, f"{UNSURE} ({sure:.2f}); {c.reason}"
        kept_parts = []
        log.debug("draft dropped: the model was unsure of it (least likely token %.2f < %.2f)", sure,
                  policy.unsure_logprob)
    if kept_parts and judge_model is not None and lang in policy.judge_min:
        judge_claims(judge_model, text, claims, policy.judge_min[lang])
        kept_parts = [_cited(c) for c in claims if c.kept]
        _log_claims("judged the kept claims", claims)
    if kept_parts:
        return answered(" ".join(kept_parts), "generated", claims)
    # Quoting is the fallback for a draft that failed verification. It needs a source sentence that covers
    # most of the question on its own (`policy.min_quote_relevance`).
    quoted_text, quoted, coverage = quote(q, sources)
    if quoted_text and coverage >= policy.min_quote_relevance:
        return answered(quoted_text, "extractive", claims + quoted)
    if lang in policy.follow_up_langs and all(c.reason in (NO_ANSWER, NO_NUMBER) for c in claims):
        # The draft points at sources without saying the answer ("[1][2]", the question restated, no number
        # for "how many") and no sentence is close enough to the question to quote: ask once more, in the
        # same conversation (llama.cpp reuses the KV state of the whole prompt; 3–4 s on two cores).
        follow = messages + [{"role": "assistant", "content": draft}, {"role": "user", "content": FOLLOW_UP[lang]}]
        if on_token:
            on_token("\n")
        second, truncated = generate(follow, policy.follow_up_tokens)
        timings["generation_s"] = time.perf_counter() - t0 - timings["retrieval_s"]
        if not is_not_found(second):
            more, kept_parts = check(second, truncated)
            _log_claims("verified the follow-up", more)
            claims += more
            if kept_parts:
                return answered(" ".join(kept_parts), "generated", claims)
    return abstain(f"no claim survived verification ({len(claims)} checked) and no source sentence covers the "
                   f"question well enough to quote ({coverage:.2f} < {policy.min_quote_relevance:.2f})", draft, claims)
