"""Training examples from a tenant's own documents (`inhouse tune data`).

For a sentence of a chunk and an answer span in it (`spans`), the local model writes a question whose answer
is the span, shown the sentence with the span hidden (`question_messages`: worked examples, Korean and
English). The question is kept only if a round
trip passes: it does not give the answer away, it is in the sentence's language, the model answering it from
the sentence alone gives the span back (consistency filtering, Alberti et al. 2019), the real retrieval finds
the chunk, and the context the answer pipeline would show (`select_context`) holds the sentence and clears the
relevance gate. A kept question gives two examples, each the exact prompt `answer_question` builds
(`build_messages`) with its target reply:

- answerable: the retrieved sources, the gold among them; the target copies the sentence and cites it
  ("… [2].");
- unanswerable (RAFT, Zhang et al. 2024): the same question with every chunk of the gold document hidden, so the
  sources are distractors only; the target is the refusal (`NOT_FOUND`). Only distractors that clear the gate
  make an example: below it the pipeline abstains without asking the model.

Documents are split into train and held-out by a hash of their path (never by question), so a held-out
document's questions measure what was not trained on. Everything is read through an uncleared reader view:
PII reaches neither the generator nor the examples. Documents only the `pii` group may read are left out.

Each attempt (kept or not, with its reason) is one line appended to `attempts.jsonl` with its examples, so an
interrupted run resumes where it stopped; `examples.jsonl` is rewritten from it atomically at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from inhouse.answer.context import select_context
from inhouse.answer.pipeline import DEFAULT_POLICY
from inhouse.answer.policy import AnswerPolicy
from inhouse.answer.prompt import NOT_FOUND, build_messages
from inhouse.config import Settings
from inhouse.errors import InputError, NotFoundError
from inhouse.files import atomic_write
from inhouse.guard.view import ReaderView
from inhouse.protocols import ChatModel, Embedder, Store
from inhouse.retrieve import read_chunks, search
from inhouse.text.analyze import analyze, detect_language
from inhouse.tune.spans import Span, english_spans, korean_spans, pick_span
from inhouse.types import Chunk, Principal
from inhouse.verify import Question

# Bumped whenever the question prompt, the span rules or the example format change: recorded in every example.
DATA_VERSION = "1"
PII_GROUP = "pii"

BLANK = "____"

QUESTION_SYSTEM = (
    "You write questions that employees would ask about their company's documents.\n"
    f"You are given a sentence from a document with one part hidden as {BLANK}. Write one question whose "
    "answer is the hidden part.\n"
    "Rules: name the subject so the question makes sense on its own (not 'this' or 'the above'); write in the "
    "language of the sentence (한국어 문장에는 한국어 질문); reply with the question only."
)

# The answer is hidden from the writer: a small model shown it copies the sentence, answer and all, in most of
# its questions (qwen2.5-coder-0.5b on the sample handbook: 47 of 73).
QUESTION_EXAMPLES: tuple[tuple[str, str, str], ...] = (
    ("사내 시설 › 회의실", f"예약 시각부터 {BLANK} 안에 입실하지 않으면 예약이 자동으로 취소됩니다.",
     "회의실 예약은 예약 시각부터 몇 분 안에 입실하지 않으면 자동으로 취소되나요?"),
    ("Travel policy", f"Business class requires the written approval of {BLANK}.",
     "Whose written approval does an employee need to fly business class?"),
    ("사내 행사 › 체육대회", f"장소는 {BLANK}이며 우천 시 다음 주로 미룬다.",
     "사내 체육대회는 어디에서 열리나요?"),
)


def blanked(sentence: str, span: Span) -> str:
    """The sentence with its answer span hidden."""
    return sentence[:span.start] + BLANK + sentence[span.end:]


def _question_turn(heading: str, sentence: str) -> str:
    return f"Document section: {heading or '-'}\nSentence: {sentence}"


def question_messages(heading: str, sentence: str) -> list[dict[str, str]]:
    """The prompt that asks the model for a question about the blank of `sentence` (worked examples first)."""
    messages = [{"role": "system", "content": QUESTION_SYSTEM}]
    for h, s, q in QUESTION_EXAMPLES:
        messages += [{"role": "user", "content": _question_turn(h, s)}, {"role": "assistant", "content": q}]
    return messages + [{"role": "user", "content": _question_turn(heading, sentence)}]


CHECK_SYSTEM = ("Answer the question from the sentence, with the shortest phrase copied from the sentence. "
                "Reply with that phrase only.")


def check_messages(sentence: str, question: str) -> list[dict[str, str]]:
    """The round trip's last step: the model answers the question from the sentence alone."""
    return [{"role": "system", "content": CHECK_SYSTEM},
            {"role": "user", "content": f"Sentence: {sentence}\nQuestion: {question}"}]


def answers(reply: str, span: str) -> bool:
    """Whether a short answer `reply` gives `span`: one holds the other (spaces and punctuation aside)."""
    r, s = _squash(reply), _squash(span)
    return bool(r) and bool(s) and (s in r or r in s) and len(r) <= 3 * len(s) + 12


_PREFIX = re.compile(r"^\s*(?:question|질문|q)\s*[:：]\s*", re.IGNORECASE)


def clean_question(reply: str) -> str:
    """The question in a model reply: its first non-empty line, without a "Question:" label or quotes."""
    line = next((x for x in reply.splitlines() if x.strip()), "")
    return _PREFIX.sub("", line).strip().strip("\"'“”‘’「」").strip()


def _squash(text: str) -> str:
    return re.sub(r"\W+", "", text).lower()


def cite(sentence: str, n: int) -> str:
    """The answerable target: the sentence as the source shows it, citing source `n` before its full stop."""
    return f"{sentence.rstrip().rstrip('.。!').rstrip()} [{n}]."


def split_of(tenant: str, doc_path: str, holdout: float, seed: int) -> str:
    """"heldout" for a share `holdout` of documents, by a hash of the document (never by question)."""
    h = hashlib.sha256(f"{seed}\0{tenant}\0{doc_path}".encode()).digest()
    return "heldout" if int.from_bytes(h[:8], "big") / 2**64 < holdout else "train"


@dataclass
class DataReport:
    out: str
    attempts: int = 0
    kept: int = 0
    examples: dict[str, int] = field(default_factory=dict)  # "train/answerable" -> count
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count
    resumed: int = 0  # attempts found from an earlier run

    def to_json(self) -> dict:
        return {"out": self.out, "attempts": self.attempts, "kept": self.kept, "examples": self.examples,
                "rejected": self.rejected, "resumed": self.resumed}


def reader(store: Store, tenant: str) -> Principal:
    """Who reads the documents for training: every group of the tenant's documents but `pii`, so the reader
    view masks PII."""
    docs = store.list_documents(tenant)
    if not docs:
        raise NotFoundError(f"tenant '{tenant}' has no documents; ingest some with "
                            f"`inhouse ingest DIR --tenant {tenant}`.")
    groups = {g for d in docs for g in d.groups} - {PII_GROUP, "*"}
    return Principal(tenant=tenant, user="inhouse-tune", groups=tuple(sorted(groups)))


def _read_attempts(path: Path) -> list[dict]:
    """The attempts recorded so far; a last line cut short by a crash is dropped (and cut from the file)."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    rows, good = [], 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
        good += len(line)
    if good < len(raw):
        with path.open("r+b") as f:
            f.truncate(good)
    return rows


_BULLET = re.compile(r"^(?:[-*•·]|\d{1,2}[.)])\s+")
_BLOCK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*•·]|\d{1,2}[.)])\s)")
_FIELD = re.compile(r"^\s*[\w .-]{1,30}:\s")


def units(text: str) -> list[str]:
    """The statements of a chunk a question may be written about: its lines where it is a record (most lines
    "field: value"), else its sentences with line breaks as spaces; list bullets removed."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    if len(lines) > 1 and sum(bool(_FIELD.match(x)) for x in lines) > len(lines) / 2:
        pieces = lines
    else:
        # Paragraphs and list items are apart; a paragraph's wrapped lines are one text.
        blocks = [" ".join(_BULLET.sub("", b.strip()).split()) for b in _BLOCK.split(text)]
        blocks = [b for b in blocks if b]
        pieces = [b[s:e].strip() for b, a in zip(blocks, analyze(blocks), strict=True) for s, e in a.sentences]
    return [_BULLET.sub("", p) for p in pieces if p]


def _candidates(chunk: Chunk, rng: random.Random) -> Iterator[tuple[str, Span]]:
    """(sentence, span) pairs of a chunk, in random order: statements of 20–300 characters (not questions)
    that hold a span."""
    order = units(chunk.text)
    rng.shuffle(order)
    for sentence in order:
        if not 20 <= len(sentence) <= 300 or sentence.endswith("?"):
            continue
        if detect_language(sentence) == "ko":
            spans = korean_spans(analyze([sentence])[0], 0, len(sentence))
        else:
            spans = english_spans(sentence)
        span = pick_span(spans, rng)
        if span is not None:
            yield sentence, span


def build(store: Store, tenant: str, settings: Settings, model: ChatModel, out_dir: Path,
          embedder: Embedder | None = None, *, limit: int = 300, holdout: float = 0.2, seed: int = 0,
          max_attempts: int | None = None, policy: AnswerPolicy = DEFAULT_POLICY, checker: ChatModel | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> DataReport:
    """Generate up to `limit` kept questions (and their examples) into `out_dir`, trying at most `max_attempts`
    chunks in all; resumes an earlier run there. `checker` answers the questions in the round trip (default:
    `model`; a second instance of an in-process model keeps each prompt's cached prefix)."""
    if limit < 1:
        raise InputError("--limit must be at least 1.")
    if not 0.0 <= holdout < 1.0:
        raise InputError(f"--holdout must be in [0, 1), got {holdout}.")
    principal = reader(store, tenant)
    view = ReaderView(principal)
    mode = "hybrid" if embedder else "lexical"
    out_dir.mkdir(parents=True, exist_ok=True)
    attempts_path = out_dir / "attempts.jsonl"
    done = _read_attempts(attempts_path)
    for row in done[:1]:
        if row.get("tenant") != tenant or row.get("version") != DATA_VERSION:
            raise InputError(f"{out_dir} holds examples of tenant '{row.get('tenant')}' (format "
                             f"{row.get('version')}); give another --out or delete it.")
    report = DataReport(out=str(out_dir), resumed=len(done))
    tried = {r["chunk_id"] for r in done}
    kept = sum(r["outcome"] == "kept" for r in done)
    ids = sorted(store.chunk_ids(principal))
    random.Random(seed).shuffle(ids)
    todo = [i for i in ids if i not in tried]
    if progress:
        progress("questions", min(kept, limit), limit)
    with attempts_path.open("ab") as log:
        for start in range(0, len(todo), 32):
            if kept >= limit or (max_attempts is not None and len(done) >= max_attempts):
                break
            batch = read_chunks(store, principal, todo[start:start + 32], view)
            for cid in todo[start:start + 32]:
                if kept >= limit or (max_attempts is not None and len(done) >= max_attempts):
                    break
                chunk = batch.get(cid)
                if chunk is None:
                    continue
                row = _attempt(store, principal, view, settings, model, checker or model, embedder, mode, policy, chunk,
                               random.Random(f"{seed}:{cid}"), split_of(tenant, chunk.doc_path, holdout, seed))
                row.update(tenant=tenant, version=DATA_VERSION, generator=model.name, seed=seed)
                log.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
                log.flush()
                os.fsync(log.fileno())
                done.append(row)
                kept += row["outcome"] == "kept"
                if progress:
                    progress("questions", min(kept, limit), limit)
    examples = [ex for r in done for ex in r.get("examples", [])]
    body = "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples).encode()
    atomic_write(out_dir / "examples.jsonl", lambda f: f.write(body))
    report.attempts, report.kept = len(done), sum(r["outcome"] == "kept" for r in done)
    report.examples = dict(Counter(f"{ex['split']}/{ex['kind']}" for ex in examples))
    report.rejected = dict(Counter(r["outcome"] for r in done if r["outcome"] != "kept"))
    return report


def _attempt(store: Store, principal: Principal, view: ReaderView, settings: Settings, model: ChatModel,
             checker: ChatModel, embedder: Embedder | None, mode: str, policy: AnswerPolicy, chunk: Chunk,
             rng: random.Random, split: str) -> dict:
    """One chunk's question and examples, or the reason it gave none."""
    row: dict = {"chunk_id": chunk.id, "doc_path": chunk.doc_path, "page": chunk.page, "split": split}
    pair = next(_candidates(chunk, rng), None)
    if pair is None:
        return {**row, "outcome": "no answer span"}
    sentence, span = pair
    heading = " › ".join(chunk.heading_path)
    reply = model.complete(question_messages(heading, blanked(sentence, span)), max_tokens=64).text
    question = clean_question(reply)
    row.update(sentence=sentence, answer=span.text, answer_kind=span.kind, question=question)
    if not 6 <= len(question) <= 200:
        return {**row, "outcome": "no question"}
    if _squash(span.text) in _squash(question) or "__" in question:
        return {**row, "outcome": "answer in question"}
    if detect_language(question) != detect_language(sentence):
        return {**row, "outcome": "wrong language"}
    check = checker.complete(check_messages(sentence, question), max_tokens=32).text
    row["check"] = check.strip()
    if not answers(check, span.text):
        return {**row, "outcome": "answered otherwise"}
    outcome, examples = examples_for(store, principal, view, settings, embedder, mode, policy, chunk, sentence,
                                     question, span.text, split, model.name)
    return {**row, "outcome": outcome, **({"examples": examples} if examples else {})}


def examples_for(store: Store, principal: Principal, view: ReaderView, settings: Settings, embedder: Embedder | None,
                 mode: str, policy: AnswerPolicy, chunk: Chunk, sentence: str, question: str, answer: str,
                 split: str, generator: str) -> tuple[str, list[dict]]:
    """("kept", the question's examples), or (why not, []): the real retrieval must find `chunk` and the context
    the pipeline would show must hold `sentence` and clear the relevance gate."""
    q = Question(question)
    hits = search(store, principal, question, settings, k=policy.k + 8, mode=mode, embedder=embedder,
                  view=view).hits
    top = hits[:policy.k]
    if chunk.id not in [h.chunk_id for h in top]:
        return "retrieval missed", []
    sources, relevance = select_context(q, top)
    gold = next((s for s in sources if s.chunk_id == chunk.id and sentence in " ".join(s.text.split())), None)
    if gold is None:
        return "sentence not shown", []
    if relevance < policy.min_relevance:
        return "below the gate", []
    base = {"question": question, "answer": answer, "sentence": sentence, "split": split,
            "source": {"doc_path": chunk.doc_path, "chunk_id": chunk.id, "page": chunk.page},
            "version": DATA_VERSION, "generator": generator}
    examples = [{**base, "kind": "answerable", "gold_n": gold.n,
                 "messages": build_messages(question, sources, policy.worked_examples),
                 "target": cite(sentence, gold.n),
                 "sources": [s.to_json() for s in sources]}]
    distractors = [h for h in hits if h.doc_path != chunk.doc_path][:policy.k]
    d_sources, d_relevance = select_context(q, distractors)
    if d_sources and d_relevance >= policy.min_relevance:
        examples.append({**base, "kind": "unanswerable", "gold_n": None,
                         "messages": build_messages(question, d_sources, policy.worked_examples),
                         "target": NOT_FOUND, "sources": [s.to_json() for s in d_sources]})
    return "kept", examples


def load_examples(path: Path, split: str | None = None) -> list[dict]:
    """The examples of an `examples.jsonl` (of one split if given)."""
    if not path.is_file():
        raise NotFoundError(f"no examples at {path}; build them with `inhouse tune data --tenant T`.")
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]
