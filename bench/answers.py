"""Grounded answers on KorQuAD 1.0 dev (Korean) and XQuAD-en (English), with the demo model.

For each language, N questions (seeded sample, one per paragraph, outside the questions the retrieval
fusion was tuned on, and only questions whose gold answer appears in no other paragraph) are asked twice through the real pipeline (hybrid retrieval → sentence selection →
llama.cpp → claim verifier):

- answerable: the whole corpus is searchable. Score: the gold answer string appears in the final answer
  (case, spaces, punctuation and English articles ignored: inhouse.evals.rag.contains_answer); abstention
  rate.
  A draft that says nothing (bare citations) and has no sentence close enough to quote is asked once more
  (English; see inhouse.answer.FOLLOW_UP); the follow-up is recorded with the draft.
- gold removed: the question's gold paragraph is made unreadable to the asker (its access group changed,
  so retrieval cannot see it, exactly as if it were absent). Score: abstention rate.

The raw model is measured in the same run: every question is generated even when the pipeline would have
abstained before generating, so the draft (no relevance gate, no verifier) is what the model alone says.
The pipeline's answer is then the verified answer, or an abstention where the relevance gate applies —
which is what `inhouse ask` returns, since generation is deterministic (temperature 0).

Timings (first token, whole answer; p50/p95) are taken per generated answer, for the demo model and, on a
smaller sample, for the test model.

    python bench/answers.py [--n 50] [--langs ko,en] [--seed 7] [--model qwen2.5-coder-1.5b]
                            [--speed-model qwen2.5-coder-0.5b --speed-n 20] [--threads 2]
                            [--worked-examples] [--no-judge] [--replay FILE]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from retrieval import DATASETS, TUNING, doc_name, prepare_store  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.answer import JUDGE_MIN, AnswerPolicy, answer_question, is_not_found  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.errors import InputError  # noqa: E402
from inhouse.evals.rag import contains_answer  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.chat import LlamaCppChat, ScriptedChat  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402
from inhouse.protocols import ChatModel, Reply  # noqa: E402
from inhouse.types import Principal  # noqa: E402

MIN_RELEVANCE = 0.34  # answer_question's default gate, applied here after forced generation
HIDDEN = "bench-hidden"  # the access group a gold paragraph is moved to in the gold-removed condition
console = Console()


def load_items(lang: str) -> tuple[list[dict], list[str]]:
    """Every question with its gold paragraph index and gold answer strings, in file order; the paragraphs."""
    data = json.loads(DATASETS[lang][1].read_text("utf-8"))["data"]
    items, paragraphs = [], []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                items.append({"question": qa["question"], "gold": len(paragraphs),
                              "answers": sorted({a["text"] for a in qa["answers"]})})
            paragraphs.append(para["context"])
    return items, paragraphs


# The samples the answer pipeline was developed on, in the order they were used: each draws from the
# paragraphs outside those before it. Held-out seeds whose failures were read afterwards (READ_SEEDS) drew
# outside the samples before them; any other seed (held out) draws outside all of them.
DEV_SEEDS = (7, 8, 9)
READ_SEEDS = (10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
DEV_SEED = DEV_SEEDS[0]
DEV_N = 50  # the size they were drawn at, whatever --n a later run asks for


def draw(items: list[dict], paragraphs: list[str], lang: str, n: int, seed: int) -> tuple[list[dict], int, int]:
    """The questions of `seed`: a development seed draws from the paragraphs outside the development samples
    before it; a held-out seed from the paragraphs outside the samples of DEV_SEEDS (and of the READ_SEEDS
    before it), and where fewer than `n` such paragraphs are left (XQuAD-en has 240), the rest are questions
    those samples did not ask, on their paragraphs (one a paragraph). Returns the sample, how many questions
    the answer-elsewhere rule skipped, and how many of the sample come from paragraphs those samples asked
    about."""
    order = DEV_SEEDS + READ_SEEDS
    used: set[int] = set()
    asked: set[str] = set()
    for s in order[: order.index(seed)] if seed in order else order:
        picked = _draw_outside(items, paragraphs, lang, DEV_N, s, used, asked)[0]
        used |= {it["gold"] for it in picked}
        asked |= {it["question"] for it in picked}
    return _draw_outside(items, paragraphs, lang, n, seed, used, asked)


def _draw_outside(items: list[dict], paragraphs: list[str], lang: str, n: int, seed: int, used: set[int],
                  asked: set[str]) -> tuple[list[dict], int, int]:
    """`draw`'s sample of `seed` once the earlier samples' paragraphs (`used`) and questions (`asked`) are known."""
    out, elsewhere = sample(items, paragraphs, lang, n, seed, frozenset(used))
    if len(out) == n or seed in DEV_SEEDS:
        return out, elsewhere, 0
    # The paragraphs outside those samples are all drawn by now: the rest come from theirs.
    more, skipped = sample(items, paragraphs, lang, n - len(out), seed, frozenset(range(len(paragraphs))) - used,
                           skip=frozenset(asked))
    return out + more, elsewhere + skipped, len(more)


def sample(items: list[dict], paragraphs: list[str], lang: str, n: int, seed: int = DEV_SEED,
           exclude: frozenset[int] = frozenset(), skip: frozenset[str] = frozenset()) -> tuple[list[dict], int]:
    """n questions from distinct paragraphs, none from the fusion-tuning tail of the file, and none whose
    gold answer also appears in another paragraph (removing the gold paragraph must make the question
    unanswerable, or the gold-removed condition would count a correct answer as a failure to abstain).
    Paragraphs in `exclude` and questions in `skip` are not drawn. Returns the sample and how many questions
    that last rule skipped."""
    pool = items[: len(items) - TUNING[lang]]
    rng = random.Random(seed)
    rng.shuffle(pool)
    normed = [_norm(p) for p in paragraphs]
    seen, out, elsewhere = set(exclude), [], 0
    for it in pool:
        if it["gold"] in seen or it["question"] in skip:
            continue
        if any(_norm(a) in t for a in it["answers"] for j, t in enumerate(normed) if j != it["gold"]):
            elsewhere += 1
            continue
        seen.add(it["gold"])
        out.append(it)
        if len(out) == n:
            break
    return out, elsewhere


def _norm(s: str) -> str:
    # The sampling rule's form (spaces and case ignored), unchanged so that a seed draws the same questions.
    return re.sub(r"\s+", "", s).lower()


# --worked-examples: the prompt with inhouse.answer.EXAMPLES, and the log-probability rule calibrated on its
# drafts (seed 7) for Korean.
EXAMPLES_OPTIONS = {"worked_examples": True, "unsure_langs": ("ko",)}


def ask(store, question: str, settings: Settings, model, embedder, options: dict | None = None) -> dict:
    """One forced generation; returns raw (draft) and pipeline (gated + verified) outcomes. `options`: fields
    of AnswerPolicy, and the judge model ("judge_model")."""
    policy = {k: v for k, v in (options or {}).items() if k != "judge_model"}
    a = answer_question(store, Principal("bench", "bench", ()), question, settings, model, embedder=embedder,
                        judge_model=(options or {}).get("judge_model"),
                        policy=AnswerPolicy(min_relevance=0.0, **policy))
    gated = a.relevance < MIN_RELEVANCE
    # The raw model is its first reply alone: the follow-up is part of the pipeline.
    raw_abstained = not a.draft.strip() or is_not_found(a.draft)
    return {
        "relevance": round(a.relevance, 3),
        "draft": a.draft,
        "follow_up": a.follow_up,
        "raw_abstained": raw_abstained,
        "answer": "" if gated else a.answer,
        "abstained": gated or a.abstained,
        "mode": "abstained (relevance gate)" if gated else a.mode,
        "first_token_s": a.timings.get("first_token_s"),
        "total_s": a.timings.get("total_s"),
        "retrieval_s": a.timings.get("retrieval_s"),
        "quote_score": round(a.claims[-1].score, 3) if a.mode == "extractive" else None,
        "claims": [{"text": c.text, "verdict": c.verdict, "score": round(c.score, 3), "reason": c.reason,
                    "evidence": c.evidence} for c in a.claims],
        "sources": [s.text for s in a.sources],
        "draft_logprobs": [round(x, 3) for x in a.draft_logprobs],
    }


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def timing(rows: list[dict]) -> dict:
    """Latency as a user of `inhouse ask` sees it: gated questions cost only their retrieval."""
    first, total = [], []
    for r in rows:
        if r.get("regenerated"):
            continue  # drafted again in a replay (RememberedChat): its time is not a measurement
        if r["mode"].startswith("abstained (relevance"):
            total.append(r["retrieval_s"])
            continue
        first.append(r["first_token_s"])
        total.append(r["total_s"])
    return {"first_token_p50_s": pct(first, 50), "first_token_p95_s": pct(first, 95),
            "total_p50_s": pct(total, 50), "total_p95_s": pct(total, 95), "generated": len(first)}


def quality_targets(lang: str, answerable: dict, gold_removed: dict) -> dict[str, bool]:
    """The issue's answer-quality targets, met or not, for one language's rates."""
    return {f"{lang}_answer_recall>=0.70": answerable["answer_recall"] >= 0.70,
            f"{lang}_answerable_abstention<=0.15": answerable["abstention"] <= 0.15,
            f"{lang}_gold_removed_abstention>=0.90": gold_removed["abstention"] >= 0.90}


def rate(rows: list[dict], key: str) -> float:
    return round(sum(1 for r in rows if r[key]) / len(rows), 3) if rows else 0.0


def model_identity(name: str) -> str:
    """The model's SHA-256 as the registry records it (the name where it has none): a remembered reply is
    given again only by the same file, so that another one registered under the same name is asked anew."""
    return next((r["sha256"] for r in Registry().list() if r["name"] == name and r["sha256"]), name)


def load_model(name: str, threads: int, n_ctx: int = 4096) -> LlamaCppChat:
    model_name, path = Registry().resolve(name)
    return LlamaCppChat(path, name=model_name, n_ctx=n_ctx, n_threads=threads)


@dataclass
class Recorded:
    """The model of a recorded run (--replay): its name only, since its drafts are replayed, not generated."""

    name: str


class RememberedChat:
    """A ChatModel for replays: the reply the model gave to the same messages before, or, the first time, its
    reply now (the model is loaded on first need), remembered in `path` (JSON lines: its pieces, token
    log-probabilities, tokens and finish). Greedy decoding makes a reply a function of its messages (six
    recorded drafts of seed 18 came out again character for character), so a remembered reply is the one the
    model would give again; its time is not a measurement."""

    # As the model it remembers (a LlamaCppChat).
    reports_logprobs = True
    supports_json_schema = True

    def __init__(self, name: str, load: Callable[[], ChatModel], path: Path, identity: str = "") -> None:
        self.name, self._load, self._model, self.path, self.identity = name, load, None, path, identity or name
        self.memory: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text("utf-8").splitlines():
                e = json.loads(line)
                if e.get("model") == self.identity:  # another file's replies are not this model's
                    self.memory[e["key"]] = e

    def twin(self) -> None:
        return None  # replays are not judged (bench judges a live model by its own twin)

    def complete(self, messages, *, max_tokens: int = 512, temperature: float = 0.0, stop=(), json_schema=None,
                 on_piece: Callable[[str], None] | None = None) -> Reply:
        key = hashlib.sha256(json.dumps([self.name, list(messages), max_tokens, temperature, list(stop), json_schema],
                                        ensure_ascii=False).encode()).hexdigest()
        if key not in self.memory:
            if self._model is None:
                self._model = self._load()
            pieces: list[str] = []
            reply = self._model.complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                         json_schema=json_schema, on_piece=pieces.append)
            self.memory[key] = {"key": key, "model": self.identity, "pieces": pieces, "logprobs": list(reply.logprobs),
                                "tokens": reply.tokens, "finish": reply.finish}
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(self.memory[key], ensure_ascii=False) + "\n")
        e = self.memory[key]
        for piece in e["pieces"]:
            if on_piece:
                on_piece(piece)
        # Lines written before tokens and finish were kept: a reply of max_tokens pieces was taken as cut.
        tokens = e.get("tokens", len(e["logprobs"]) or len(e["pieces"]))
        finish = e.get("finish", "length" if len(e["pieces"]) >= max_tokens else "stop")
        return Reply("".join(e["pieces"]), tokens, tuple(e["logprobs"]), finish)


class ReplayChat:
    """A replayed row's model: its recorded replies, then `model` for what the run never asked (a follow-up
    that the current pipeline asks and the recorded one did not). Where the first prompt lacks a source the
    recorded draft was written from, retrieval or sentence selection changed since the run: every reply then
    comes from `model`, as in a fresh run, and the recorded ones are not verified (nor judged) for nothing."""

    reports_logprobs = True  # both sources report the recorded or remembered ones
    supports_json_schema = False

    def __init__(self, scripted: ScriptedChat, model: RememberedChat, sources: list[str]) -> None:
        self.name, self.scripted, self.model, self.sources = scripted.name, scripted, model, sources
        self.redrafted = False  # the draft itself came from `model`
        self.asked = False  # `model` was asked anything

    def twin(self) -> None:
        return None

    def complete(self, messages, **kwargs) -> Reply:
        if not self.scripted.calls and not self.asked and not all(s in messages[-1]["content"] for s in self.sources):
            self.scripted.replies.clear()
            self.redrafted = True
        source = self.scripted if self.scripted.replies else self.model
        self.asked |= source is self.model
        return source.complete(messages, **kwargs)


def run_condition(store, picked: list[dict], lang: str, model, embedder, settings, hide: bool, label: str,
                  recorded: list[dict] | None = None, options: dict | None = None,
                  regenerate: RememberedChat | None = None) -> list[dict]:
    """Ask every picked question; with `recorded` rows (--replay), reuse their drafts instead of generating,
    except that with `regenerate` a row whose sources changed gets a new draft from the real model."""
    rows = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{lang} {label} ({model.name})", total=len(picked))
        for i, it in enumerate(picked):
            if hide:
                store.set_groups("bench", doc_name(it["gold"]), [HIDDEN])
            try:
                if recorded is None:
                    r = ask(store, it["question"], settings, model, embedder, options)
                else:
                    old = recorded[i]
                    if old["question"] != it["question"]:
                        sys.exit(f"error: --replay file does not match this sample ({lang} {label} row {i}); "
                                 "use the --n, --langs and --seed of the run that wrote it.")
                    replies = [old["draft"]] + ([old["follow_up"]] if old.get("follow_up") else [])
                    scripted = ScriptedChat(model.name, replies, [old.get("draft_logprobs", [])])
                    chat = scripted if regenerate is None else ReplayChat(scripted, regenerate, old.get("sources", []))
                    try:
                        r = ask(store, it["question"], settings, chat, embedder, options)
                    except InputError:
                        sys.exit(f"error: the pipeline asks a follow-up that the --replay file did not record ({lang} "
                                 f"{label} row {i}); replay with --regenerate-stale, or generate the run again.")
                    # The draft's generation is not repeated: keep its recorded timings.
                    r |= {k: old[k] for k in ("first_token_s", "retrieval_s", "total_s")}
                    # Retrieval or sentence selection changed since the run: the draft was written from other
                    # sentences than the pipeline now shows, so its replay says nothing of the pipeline.
                    r["stale"] = r["sources"] != old.get("sources", r["sources"])
                    if isinstance(chat, ReplayChat) and chat.redrafted:
                        # Drafted by the model now, as a fresh run would (greedy decoding: the same prompt, the
                        # same draft).
                        r["regenerated"], r["stale"] = True, False
                    elif r["stale"] and regenerate is not None:
                        # The recorded sources are all in the prompt, with another one or in another order.
                        r = ask(store, it["question"], settings, regenerate, embedder, options)
                        r["regenerated"] = True
                    elif isinstance(chat, ReplayChat) and chat.asked:
                        r["regenerated"] = True  # a follow-up the recorded run did not ask
            finally:
                if hide:
                    store.set_groups("bench", doc_name(it["gold"]), [])
            r |= {"question": it["question"], "answers": it["answers"],
                  "found": contains_answer(r["answer"], it["answers"]),
                  "raw_found": contains_answer(r["draft"], it["answers"]),
                  # Whether the model was shown the answer at all (retrieval and sentence selection).
                  "gold_in_sources": contains_answer(" ".join(r["sources"]), it["answers"])}
            rows.append(r)
            progress.advance(task)
    return rows


def summarise(rows: list[dict]) -> dict:
    return {"n": len(rows), "answer_recall": rate(rows, "found"), "abstention": rate(rows, "abstained"),
            "raw_answer_recall": rate(rows, "raw_found"), "raw_abstention": rate(rows, "raw_abstained"),
            "gold_in_sources": rate(rows, "gold_in_sources"),
            **timing(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50, help="questions per language and condition")
    ap.add_argument("--langs", default="ko,en")
    ap.add_argument("--seed", type=int, default=DEV_SEED,
                    help=f"sample seed ({', '.join(map(str, DEV_SEEDS))}: the questions the pipeline was developed on; "
                         f"{', '.join(map(str, READ_SEEDS))}: held out, then read; another seed draws held-out questions "
                         "from paragraphs outside all those samples, and where too few are left, new questions on theirs)")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", help="the demo model")
    ap.add_argument("--speed-model", default="qwen2.5-coder-0.5b", help="second model, timed on --speed-n questions")
    ap.add_argument("--speed-n", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache" / "retrieval")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answers.json")
    ap.add_argument("--replay", type=Path, default=None,
                    help="re-run retrieval, the gate, the verifier and the fallback on the drafts recorded in this "
                         "results file (same --n/--langs; drafts not generated again, their timings copied)")
    ap.add_argument("--regenerate-stale", action="store_true",
                    help="with --replay: a row whose sources changed since its run (retrieval or sentence selection) "
                         "is drafted again by the demo model instead of being marked stale")
    ap.add_argument("--worked-examples", action="store_true",
                    help="prompt with worked examples (and the Korean log-probability rule calibrated on its drafts)")
    ap.add_argument("--no-judge", action="store_true",
                    help="no judge of kept claims (by default the demo model judges each one against its source "
                         "sentence, as `inhouse ask` does: a second instance, run with --replay too)")
    ap.add_argument("--judge-min", default="",
                    help="LANG=LOG_ODDS,… instead of inhouse.answer.JUDGE_MIN (-inf keeps every claim: calibration)")
    args = ap.parse_args()
    if args.regenerate_stale and not args.replay:
        sys.exit("error: --regenerate-stale goes with --replay FILE (a fresh run drafts every row anyway)")
    options = dict(EXAMPLES_OPTIONS) if args.worked_examples else {}
    if not args.no_judge:
        judge_min = dict(JUDGE_MIN)
        for pair in filter(None, args.judge_min.split(",")):
            lang, _, value = pair.partition("=")
            judge_min[lang.strip()] = float(value)
        if args.replay:
            # The judge's verdicts are remembered as drafts are: a replay asks the model only what it never
            # judged before.
            judge_model = RememberedChat(args.model, lambda: load_model(args.model, args.threads, n_ctx=1024),
                                         args.cache / "judge_replies.jsonl", model_identity(args.model))
        else:
            judge_model = load_model(args.model, args.threads, n_ctx=1024)
        options |= {"judge_model": judge_model, "judge_min": judge_min}
    # The gold-removed condition hides paragraphs in the cached store: two runs on one cache would hide each
    # other's gold paragraphs.
    args.cache.mkdir(parents=True, exist_ok=True)
    lock = (args.cache / "answers.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"error: another bench/answers.py is using {args.cache}; wait for it, or give this run its own --cache")
    t_start = time.perf_counter()
    settings = Settings()
    embedder = load_embedder(settings.embedder)
    replay = json.loads(args.replay.read_text("utf-8")) if args.replay else None
    if replay:
        first = args.langs.split(",")[0]
        speed_name = replay["languages"][first].get("speed_model", {}).get("model")
        demo, speed = Recorded(replay["model"]), None
        # Older result files kept no per-question rows for the speed model: its summary is copied as is.
        if speed_name and args.speed_n and "speed_model" in replay["items"][first]:
            speed = Recorded(speed_name)
    else:
        demo = load_model(args.model, args.threads)
        speed = load_model(args.speed_model, args.threads) if args.speed_n else None
    regen = (RememberedChat(args.model, lambda: load_model(args.model, args.threads), args.cache / "draft_replies.jsonl",
                            model_identity(args.model)) if args.regenerate_stale else None)
    results: dict = {"bench": "answers", "date": time.strftime("%Y-%m-%d"), "model": demo.name,
                     "args": {k: str(v) for k, v in vars(args).items()}, "languages": {}}
    if replay:
        results["replayed_from"] = {"file": str(args.replay), "date": replay["date"], "wall_s": replay["wall_s"]}
    items_out = {}
    for lang in args.langs.split(","):
        store, _paragraphs, _qa, facts = prepare_store(lang, args.cache, console)
        items, paragraphs = load_items(lang)
        picked, elsewhere, reused = draw(items, paragraphs, lang, args.n, args.seed)
        console.print(f"{lang}: {len(picked)} questions per condition ({facts['dataset']}, {facts['chunks']} chunks;"
                      f" {elsewhere} skipped: their answer is also in another paragraph)")
        if reused:
            console.print(f"{lang}: {reused} of them are new questions on paragraphs that development samples "
                          "asked about (too few paragraphs are left outside them)")
        rec = replay["items"][lang] if replay else {}
        answerable = run_condition(store, picked, lang, demo, embedder, settings, hide=False, label="answerable",
                                   recorded=rec.get("answerable"), options=options, regenerate=regen)
        removed = run_condition(store, picked, lang, demo, embedder, settings, hide=True, label="gold removed",
                                recorded=rec.get("gold_removed"), options=options, regenerate=regen)
        out = {"corpus": facts, "skipped_answer_elsewhere": elsewhere, "from_development_paragraphs": reused, "answerable": summarise(answerable), "gold_removed": summarise(removed)}
        if speed is not None:
            # The test model is judged by its own twin, as `inhouse ask` would judge it (not when replayed).
            own = {k: v for k, v in options.items() if not k.startswith("judge")}
            if "judge_model" in options and isinstance(speed, LlamaCppChat):
                own |= {"judge_model": speed.twin(), "judge_min": options["judge_min"]}
            fast = run_condition(store, picked[: args.speed_n], lang, speed, embedder, settings, hide=False,
                                 label="answerable", recorded=rec.get("speed_model"), options=own)
            out["speed_model"] = {"model": speed.name, **summarise(fast)}
        elif replay and "speed_model" in replay["languages"][lang]:
            out["speed_model"] = replay["languages"][lang]["speed_model"] | {"copied_not_replayed": True}
        results["languages"][lang] = out
        items_out[lang] = {"answerable": answerable, "gold_removed": removed} | ({"speed_model": fast} if speed else {})
        store.close()
    results["wall_s"] = round(time.perf_counter() - t_start, 1)

    table = Table(title=f"Grounded answers ({demo.name}; raw = the model alone, pipeline = gate + verifier)")
    for col in ("lang", "condition", "n", "recall raw", "recall pipeline", "abstain raw", "abstain pipeline",
                "TTFT p50/p95 s", "total p50/p95 s"):
        table.add_column(col)
    for lang, out in results["languages"].items():
        for cond in ("answerable", "gold_removed", "speed_model"):
            if cond not in out:
                continue
            r = out[cond]
            name = cond if cond != "speed_model" else f"answerable ({r['model']})"
            table.add_row(lang, name, str(r["n"]), f"{r['raw_answer_recall']:.2f}", f"{r['answer_recall']:.2f}",
                          f"{r['raw_abstention']:.2f}", f"{r['abstention']:.2f}",
                          f"{r['first_token_p50_s']}/{r['first_token_p95_s']}", f"{r['total_p50_s']}/{r['total_p95_s']}")
    console.print(table)
    targets = {}
    for lang, out in results["languages"].items():
        targets |= quality_targets(lang, out["answerable"], out["gold_removed"])
    first = [r["first_token_s"] for lang in items_out for r in items_out[lang]["answerable"]
             if not r["mode"].startswith("abstained (relevance") and not r.get("regenerated")]
    total = [r["total_s"] for lang in items_out for r in items_out[lang]["answerable"]
             if not r["mode"].startswith("abstained (relevance") and not r.get("regenerated")]
    results["demo_model_speed"] = {"first_token_p50_s": pct(first, 50), "total_p50_s": pct(total, 50)}
    targets["first_token_p50<=8s"] = bool(first) and pct(first, 50) <= 8
    targets["total_p50<=20s"] = bool(total) and pct(total, 50) <= 20
    targets["bench_within_60_min"] = (replay["wall_s"] if replay else results["wall_s"]) <= 3600
    for k, ok in targets.items():
        console.print(f"{'PASS' if ok else 'FAIL'} {k}")
    console.print(f"wall time {results['wall_s']} s")
    results["targets"] = targets
    results["items"] = items_out
    atomic_write_json(args.out, results, indent=2)


if __name__ == "__main__":
    main()
