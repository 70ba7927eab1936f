"""`inhouse eval rag`: grounded-QA scores of a model over a knowledge base (the leaderboard's RAG tasks).

A question set is JSON lines, one question a line:

    {"question": "반품 기간은 며칠인가요?", "answers": ["14일"]}      # answerable: any gold string counts
    {"question": "작년 영업이익은?", "answers": []}                    # unanswerable: must abstain

Every question goes through the real pipeline (`answer_question`: retrieval with the asker's
permissions, relevance gate, generation, claim verifier). Scores:

- `answer_recall`: answerable questions whose final answer contains a gold string (case, spaces,
  punctuation and English articles ignored: `answer_form`), the metric of `bench/answers.py`;
- `abstention_answerable` (lower is better) and `abstention_unanswerable` (higher is better);
- `claims_rejected`: share of the model's claims the verifier removed (how much the draft invented);
- `verifier_halueval`: balanced accuracy of the claim scorer at the pipeline's threshold on HaluEval QA
  (right vs hallucinated answer given the knowledge), when that data is present; model-independent.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from inhouse.answer import AnswerPolicy, answer_question, judge_for
from inhouse.config import Settings
from inhouse.errors import InputError, NotFoundError
from inhouse.protocols import ChatModel, Embedder, Store
from inhouse.types import Principal
from inhouse.verify import support

log = logging.getLogger(__name__)

VERSION = 2  # 2: answers compared in SQuAD's normal form (punctuation and articles ignored)
HALUEVAL = Path("halu") / "halueval_qa_oneturn_hotpot.json"


def read_rag_set(path: Path) -> list[dict]:
    """The questions of a JSONL set, each `{"question": str, "answers": [str, ...]}` (empty = unanswerable)."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such question set; give a JSONL file with one "
                            '{"question": …, "answers": […]} per line.')
    items = []
    for i, line in enumerate(path.read_text("utf-8", errors="strict").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{i}: not JSON ({e.msg}); each line must be one JSON object.") from e
        q, answers = (d.get("question"), d.get("answers", [])) if isinstance(d, dict) else (None, None)
        if not isinstance(q, str) or not q.strip():
            raise InputError(f'{path}:{i}: needs a non-empty "question" string.')
        if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
            raise InputError(f'{path}:{i}: "answers" must be a list of non-empty strings ([] = unanswerable).')
        items.append({"question": q.strip(), "answers": answers})
    if not items:
        raise InputError(f"{path}: no questions in the file.")
    return items


_CITATION = re.compile(r"\[\d{1,2}\]")
_ARTICLE = re.compile(r"\b(?:a|an|the)\b")


def answer_form(s: str) -> str:
    """SQuAD's answer normalisation (lower case, no punctuation, no English articles), then no spaces at
    all, since Korean spacing varies: "black-and-yellow" is in "black and yellow", "comb jelly." in "a
    comb jelly[1]." Citation markers go first, so that "[1]" never matches a gold "1"."""
    s = _CITATION.sub(" ", s).lower()
    s = "".join(" " if unicodedata.category(c).startswith("P") else c for c in s)
    return re.sub(r"\s+", "", _ARTICLE.sub(" ", s))


def contains_answer(text: str, answers: list[str]) -> bool:
    """Whether a gold answer string appears in `text` (both in `answer_form`)."""
    t = answer_form(text)
    return any(answer_form(a) and answer_form(a) in t for a in answers)


def _rate(hits: int, n: int) -> tuple[float | None, float | None]:
    if not n:
        return None, None
    p = hits / n
    return p, math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else 0.0


def verifier_balanced_accuracy(data: Path, limit: int, threshold: float) -> dict | None:
    """Balanced accuracy of `support()` ≥ threshold on the first `limit` HaluEval QA items (None if absent)."""
    path = data / HALUEVAL
    if not path.is_file():
        return None
    scores: list[tuple[float, bool]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            scores.append((support(d["right_answer"], d["knowledge"])[0], True))
            scores.append((support(d["hallucinated_answer"], d["knowledge"])[0], False))
            if len(scores) >= 2 * limit:
                break
    pos = [s >= threshold for s, y in scores if y]
    neg = [s < threshold for s, y in scores if not y]
    return {"verifier_halueval": (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2, "n": len(scores)}


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.3f}"


def run_rag(store: Store, principal: Principal, items: list[dict], settings: Settings, chat: ChatModel,
            embedder: Embedder | None, progress: Callable[[str, int, int], None] | None = None,
            verify_threshold: float = 0.6) -> dict:
    """Scores and per-question rows for `items` answered as `principal`."""
    rows = []
    judge = judge_for(chat, settings)
    policy = AnswerPolicy(verify_threshold=verify_threshold)
    for i, it in enumerate(items):
        t0 = time.perf_counter()
        a = answer_question(store, principal, it["question"], settings, chat, embedder,
                            judge_model=judge, policy=policy)
        rows.append({"question": it["question"], "answers": it["answers"], "answer": a.answer,
                     "abstained": a.abstained, "mode": a.mode,
                     "found": bool(it["answers"]) and not a.abstained and contains_answer(a.answer, it["answers"]),
                     "claims": len(a.claims), "claims_rejected": sum(c.verdict == "unsupported" for c in a.claims),
                     "seconds": round(time.perf_counter() - t0, 3)})
        if progress:
            progress("rag", i + 1, len(items))
    answerable = [r for r in rows if r["answers"]]
    unanswerable = [r for r in rows if not r["answers"]]
    scores: dict[str, float | None] = {}
    for name, hits, n in (("answer_recall", sum(r["found"] for r in answerable), len(answerable)),
                          ("abstention_answerable", sum(r["abstained"] for r in answerable), len(answerable)),
                          ("abstention_unanswerable", sum(r["abstained"] for r in unanswerable), len(unanswerable)),
                          ("claims_rejected", sum(r["claims_rejected"] for r in rows), sum(r["claims"] for r in rows))):
        scores[name], scores[f"{name}_stderr"] = _rate(hits, n)
    seconds = sorted(r["seconds"] for r in rows)
    log.info("rag set of %d questions as %s@%s with %s: answer recall %s, abstention %s / %s", len(rows),
             principal.user, principal.tenant, chat.name, _pct(scores["answer_recall"]),
             _pct(scores["abstention_answerable"]), _pct(scores["abstention_unanswerable"]))
    return {"scores": scores, "n": len(rows), "n_answerable": len(answerable), "n_unanswerable": len(unanswerable),
            "seconds_p50": seconds[len(seconds) // 2], "rows": rows}
