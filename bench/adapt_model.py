"""Domain adaptation of the model, measured: a LoRA adapter (`inhouse.tune.model`) trained on RAFT-style examples
of one corpus, base vs adapted through the full answer pipeline, paired on the same questions.

Corpus: KorQuAD 1.0 dev (Korean) or XQuAD-en, in the store of bench/retrieval.py. Evaluation questions are
bench/answers.py's sample of `--seed` (its rules: one a paragraph, answer in no other paragraph); training
questions come only from *other articles* (split by article, never by question). Each training question becomes
the examples `inhouse tune data` writes (`tune.data.examples_for`: the exact answer prompt over the real
retrieval, the answer-bearing sentence cited, and with the gold document hidden, the refusal) — its human question
stands in for a generated one, so this measures what the training recipe does, given good questions.

A format-only control (`NoLeadingCitationChat`: the base model barred from beginning a draft with a citation
marker, so no citation-only drafts) separates what the adapter teaches about form from what it teaches about
content. Base, control and adapted model answer every evaluation question twice (answerable; gold paragraph
hidden) through `answer_question` with their own twin as the judge, as `inhouse ask --adapter` does. Reported:
wrong drafts (answerable drafts that neither contain the answer nor refuse), draft and pipeline recall, abstention
in both conditions, with McNemar's exact p-value on each paired outcome.

Forgetting: the general tasks (`--general`, first `--general-limit` items) scored base and adapted through the
leaderboard's runner (`inhouse eval run --adapter`).

    python bench/adapt_model.py [--lang ko] [--model qwen2.5-coder-0.5b] [--train 150] [--seed 22] [--n 50]
                                [--general arc_easy,kobest_copa,hellaswag] [--general-limit 500]

KorQuAD is CC BY-ND: the adapter (bench/.cache/adapt, never committed) is for this measurement only. Training
checkpoints and each condition's rows are kept there too: an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import answers  # noqa: E402
from adapt import articles, mcnemar  # noqa: E402
from retrieval import DATASETS, doc_name, prepare_store  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.answer import JUDGE_MIN  # noqa: E402
from inhouse.answer.pipeline import DEFAULT_POLICY  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json, sha256_file  # noqa: E402
from inhouse.guard.view import ReaderView  # noqa: E402
from inhouse.models.chat import LlamaCppChat  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402
from inhouse.tune.data import examples_for, units  # noqa: E402
from inhouse.tune.model import FORMAT, LoraSettings, train  # noqa: E402
from inhouse.types import Principal  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
console = Console()


def answer_sentence(paragraph: str, answers_: list[str]) -> str | None:
    """The sentence of the paragraph that holds a gold answer (None when it spans sentences)."""
    for sentence in units(paragraph):
        if any(a in sentence for a in answers_):
            return sentence
    return None


def training_examples(store, lang: str, items: list[dict], paragraphs: list[str], eval_articles: set[int],
                      want: int, seed: int, embedder, settings: Settings, per_paragraph: int = 1
                      ) -> tuple[list[dict], dict]:
    """Examples of up to `want` questions (at most `per_paragraph` of a paragraph) from articles outside
    `eval_articles`, and why others gave none."""
    art = articles(DATASETS[lang][1])
    principal = Principal("bench", "bench", ())
    view = ReaderView(principal)
    pool = [it for it in items if art[it["gold"]] not in eval_articles]
    random.Random(seed).shuffle(pool)
    by_doc: dict[str, list] = {}
    for chunk in store.get_chunks(principal, store.chunk_ids(principal)).values():
        by_doc.setdefault(chunk.doc_path, []).append(chunk)
    out: list[dict] = []
    outcomes: dict[str, int] = {}
    kept = 0
    used: dict[int, int] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{lang} training examples", total=want)
        for it in pool:
            if kept >= want:
                break
            if used.get(it["gold"], 0) >= per_paragraph:
                continue
            sentence = answer_sentence(paragraphs[it["gold"]], it["answers"])
            if sentence is None:
                outcomes["answer spans sentences"] = outcomes.get("answer spans sentences", 0) + 1
                continue
            chunk = next((c for c in by_doc.get(doc_name(it["gold"]), []) if sentence in " ".join(c.text.split())),
                         None)
            if chunk is None:
                outcomes["sentence split across chunks"] = outcomes.get("sentence split across chunks", 0) + 1
                continue
            outcome, exs = examples_for(store, principal, view, settings, embedder, "hybrid", DEFAULT_POLICY, chunk,
                                        sentence, it["question"], it["answers"][0], "train", "korquad-human")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome == "kept":
                used[it["gold"]] = used.get(it["gold"], 0) + 1
                out.extend(exs)
                kept += 1
                progress.advance(task)
    return out, outcomes


class NoLeadingCitationChat(LlamaCppChat):
    """The format-only control: the base model, barred from beginning a reply with a citation marker, a blank or
    the end of the reply, so it cannot give a citation-only draft ("[1]") and must write words first. What the
    adapter gains beyond this is content, not format. Its judge twin is the unconstrained base."""

    _banned: np.ndarray | None = None

    def _constraints(self) -> list:
        if self._banned is None:
            llm = self.llm
            pieces = (llm.detokenize([i]).decode("utf-8", errors="ignore") for i in range(llm.n_vocab()))
            self._banned = np.array([i for i, t in enumerate(pieces) if not t.strip() or t.lstrip().startswith("[")])
        first = [True]

        def ban(_ids, logits):
            if first[0]:
                first[0] = False
                logits[self._banned] = -np.inf
            return logits

        return [ban]


def evaluate(store, picked: list[dict], lang: str, chat, embedder, settings: Settings, judge: bool,
             rows_path: Path) -> dict[str, list[dict]]:
    """Both conditions' rows for one model, reused from `rows_path` when that model already answered them."""
    if rows_path.exists():
        saved = json.loads(rows_path.read_text("utf-8"))
        if [r["question"] for r in saved["answerable"]] == [it["question"] for it in picked]:
            console.print(f"  {chat.name}: rows reused from {rows_path.relative_to(ROOT)}")
            return saved
    options = {"judge_model": chat.twin(), "judge_min": dict(JUDGE_MIN)} if judge else {}
    rows = {}
    for label, hide in (("answerable", False), ("gold_removed", True)):
        rows[label] = answers.run_condition(store, picked, lang, chat, embedder, settings, hide=hide, label=label,
                                            options=options)
    atomic_write_json(rows_path, rows)
    return rows


def summary(rows: dict[str, list[dict]]) -> dict:
    a, g = rows["answerable"], rows["gold_removed"]
    wrong = [not r["raw_abstained"] and not r["raw_found"] for r in a]
    return {"wrong_drafts": round(sum(wrong) / len(a), 3), "draft_recall": answers.rate(a, "raw_found"),
            "answer_recall": answers.rate(a, "found"), "answerable_abstention": answers.rate(a, "abstained"),
            "gold_removed_abstention": answers.rate(g, "abstained"), "n": len(a)}


def paired(base: dict[str, list[dict]], adapted: dict[str, list[dict]]) -> dict:
    def col(rows, cond, f):
        return [int(f(r)) for r in rows[cond]]

    tests = {"wrong_drafts": ("answerable", lambda r: not r["raw_abstained"] and not r["raw_found"]),
             "answer_recall": ("answerable", lambda r: r["found"]),
             "answerable_abstention": ("answerable", lambda r: r["abstained"]),
             "gold_removed_abstention": ("gold_removed", lambda r: r["abstained"])}
    return {k: mcnemar(col(base, c, f), col(adapted, c, f)) for k, (c, f) in tests.items()}


def general_tasks(model: str, adapter: Path, key: str, tasks: list[str], limit: int, threads: int) -> dict:
    """Base vs adapted on general tasks (forgetting), through `inhouse eval run`'s runner with `--adapter`, in an
    INHOUSE_HOME of the bench's own (bench/.cache/adapt/home: the adapter registered there, items cached there)."""
    from inhouse.evals.runner import run_eval

    before = os.environ.get("INHOUSE_HOME")
    os.environ["INHOUSE_HOME"] = str(CACHE / "adapt" / "home")
    try:
        name = f"bench-{key}"
        Registry().add_adapter(adapter, name, model)
        runs = {}
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("general tasks", total=None)
            for which, adapter_name in (("base", None), ("adapted", name)):
                runs[which] = run_eval(model, tasks, limit=limit, n_threads=threads, adapter=adapter_name,
                                       progress=lambda label, done, total, which=which: progress.update(
                                           task, description=f"{label} {which}", completed=done, total=total))
    finally:
        if before is None:
            os.environ.pop("INHOUSE_HOME", None)
        else:
            os.environ["INHOUSE_HOME"] = before
    out = {}
    for t in tasks:
        primary = runs["base"]["settings"][t]["primary"]
        b, a = runs["base"]["results"][t][primary], runs["adapted"]["results"][t][primary]
        out[t] = {"metric": primary, "n": runs["base"]["results"][t]["n"], "base": round(b, 4),
                  "adapted": round(a, 4), "diff_points": round(100 * (a - b), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", default="ko", choices=sorted(DATASETS))
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--train", type=int, default=150, help="training questions (each gives up to two examples)")
    ap.add_argument("--per-paragraph", type=int, default=1,
                    help="training questions of one paragraph at most (XQuAD's 48 articles leave few paragraphs)")
    ap.add_argument("--seed", type=int, default=22, help="bench/answers.py sample seed of the evaluation questions")
    ap.add_argument("--n", type=int, default=50, help="evaluation questions")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--refusal-share", type=float, default=LoraSettings.refusal_share)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-judge", action="store_true")
    ap.add_argument("--general", default="arc_easy,kobest_copa,hellaswag",
                    help="general tasks scored base vs adapted (forgetting); '' for none")
    ap.add_argument("--general-limit", type=int, default=500, help="first N items of each general task")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t_start = time.perf_counter()
    settings = Settings()
    embedder = load_embedder(settings.embedder)
    store, _p, _qa, facts = prepare_store(args.lang, CACHE / "retrieval", console)
    items, paragraphs = answers.load_items(args.lang)
    picked = answers.draw(items, paragraphs, args.lang, args.n, args.seed)[0]
    if len(picked) < args.n:
        sys.exit(f"seed {args.seed} draws only {len(picked)} {args.lang} questions (bench/answers.py's earlier samples "
                 "used the rest); give another --seed (XQuAD-en: 11 to 17) or a smaller --n.")
    art = articles(DATASETS[args.lang][1])
    eval_articles = {art[it["gold"]] for it in picked}
    examples, outcomes = training_examples(store, args.lang, items, paragraphs, eval_articles, args.train, args.seed,
                                           embedder, settings, args.per_paragraph)
    kinds = {k: sum(e["kind"] == k for e in examples) for k in ("answerable", "unanswerable")}
    console.print(f"{args.lang}: {len(picked)} evaluation questions from {len(eval_articles)} articles; "
                  f"{kinds} training examples from other articles; outcomes {outcomes}")
    name, base_path = Registry().resolve(args.model)
    lora = LoraSettings(rank=args.rank, alpha=2.0 * args.rank, epochs=args.epochs, lr=args.lr, seed=args.seed,
                        refusal_share=args.refusal_share)
    extra = [args.per_paragraph] if args.per_paragraph != 1 else []  # keys of earlier runs stay as they were
    key = hashlib.sha256(json.dumps([FORMAT, args.lang, name, args.train, args.seed, args.n, repr(lora), *extra]
                                    ).encode()).hexdigest()[:12]
    work = CACHE / "adapt" / f"model-{args.lang}-{name}-{key}"
    adapter = work / "adapter.gguf"
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"training {name}", total=None)
        report = train(base_path, name, examples, [], work, adapter, lora, threads=args.threads,
                       base_cache=CACHE / "tune-base",
                       progress=lambda _l, done, total: progress.update(task, completed=done, total=total))
    console.print(f"trained: {report.examples} examples, {report.steps} steps, {report.seconds_per_step} s/step "
                  f"({report.seconds:.0f} s with loading)")
    base_chat = LlamaCppChat(base_path, name=name, n_threads=args.threads)
    adapted_chat = LlamaCppChat(base_path, name=name, n_threads=args.threads, lora_path=adapter, adapter="bench")
    judge = not args.no_judge
    tag = f"{args.lang}-s{args.seed}-n{args.n}-{'judge' if judge else 'nojudge'}"
    base_sha = sha256_file(base_path)[:12]
    base_rows = evaluate(store, picked, args.lang, base_chat, embedder, settings, judge,
                         CACHE / "adapt" / f"rows-{name}-{base_sha}-{tag}.json")
    adapted_rows = evaluate(store, picked, args.lang, adapted_chat, embedder, settings, judge,
                            work / f"rows-{report.sha256[:12]}-{tag}.json")
    control_chat = NoLeadingCitationChat(base_path, name=name, n_threads=args.threads)
    control_rows = evaluate(store, picked, args.lang, control_chat, embedder, settings, judge,
                            CACHE / "adapt" / f"rows-{name}-{base_sha}-nolead-{tag}.json")
    store.close()
    tasks = [t for t in args.general.split(",") if t]
    general = general_tasks(name, adapter, key, tasks, args.general_limit, args.threads) if tasks else {}
    result = {"bench": "adapt_model", "date": time.strftime("%Y-%m-%d"), "lang": args.lang, "model": name,
              "corpus": facts, "eval_seed": args.seed, "eval_articles": len(eval_articles),
              "training": {"questions": args.train, "examples": kinds, "outcomes": outcomes, **report.to_json()},
              "base": summary(base_rows), "adapted": summary(adapted_rows), "format_control": summary(control_rows),
              "mcnemar_p": paired(base_rows, adapted_rows),
              "mcnemar_p_adapted_vs_format_control": paired(control_rows, adapted_rows), "judge": judge,
              "general": general,
              "wall_s": round(time.perf_counter() - t_start, 1)}
    table = Table(title=f"Model adaptation ({name}, {args.lang}): {result['base']['n']} held-out-article questions")
    for col in ("measure", "base", "format control", "adapted", "p (base)", "p (control)"):
        table.add_column(col)
    for k in ("wrong_drafts", "draft_recall", "answer_recall", "answerable_abstention", "gold_removed_abstention"):
        p, q = result["mcnemar_p"].get(k), result["mcnemar_p_adapted_vs_format_control"].get(k)
        table.add_row(k, f"{result['base'][k]:.3f}", f"{result['format_control'][k]:.3f}",
                      f"{result['adapted'][k]:.3f}", "" if p is None else f"{p:.2g}", "" if q is None else f"{q:.2g}")
    console.print(table)
    if general:
        gt = Table(title=f"General tasks, first {args.general_limit} items (forgetting)")
        for col in ("task", "metric", "base", "adapted", "points"):
            gt.add_column(col)
        for t, r in general.items():
            gt.add_row(t, r["metric"], f"{r['base']:.3f}", f"{r['adapted']:.3f}", f"{r['diff_points']:+.1f}")
        console.print(gt)
    out = (args.out or ROOT / "bench" / "results" / f"adapt_model_{args.lang}_{name}.json").resolve()
    atomic_write_json(out, result, indent=2)
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
