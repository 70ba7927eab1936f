"""Questions in words over UCI Online Retail → SQL by the local model → execution accuracy.

Data: ../shared/data/commerce/online_retail/online-retail.csv.gz (CC BY 4.0; 541,909 invoice lines, 2010-12 to
2011-12) as the tenant's table `retail`, with the descriptions a shop would write (what revenue is, what a
cancellation is, "last month"). Questions: bench/data/analytics/*.jsonl, Korean and English, each with gold SQL
written by hand from the data and run to check it (easy: one aggregate or filter; medium: grouping, dates,
top-N; hard: CTEs, windows, period-over-period, multi-step). Worked examples in the prompt are over a made-up
table, never these questions.

A question counts as right when the model's query, checked and run read-only, returns the gold result: the same
rows, compared as multisets of values (column names and order aside; numbers to 2 decimals; row order aside).
Baselines in the same run: the first attempt alone (no repair), the same model without the shop's declared
measures (orders = count(DISTINCT InvoiceNo), revenue; `inhouse analytics measure`), and each model in `--models`.
The first model also narrates its first `--narrate` right answers: sentences kept and removed by the number checks;
then the same answers again with the shop's policies (bench/data/analytics/policies, written for the bench, English
and Korean) in a knowledge base its suggestions may cite: sentences citing a passage once the verifier has removed
the citations a passage does not support and added those it does, and how many of them are kept. Every finished
question is checkpointed under bench/.cache/analytics (by model and setup): an interrupted run resumes.

    python bench/analytics.py [--models qwen2.5-coder-1.5b[,qwen2.5-coder-0.5b]] [--limit N] [--narrate 20]

Writes bench/results/analytics.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
RETAIL = DATA / "commerce" / "online_retail" / "online-retail.csv.gz"
QUESTIONS = ROOT / "bench" / "data" / "analytics"
POLICIES = QUESTIONS / "policies"
CACHE = ROOT / "bench" / ".cache" / "analytics"

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.finance.ask import SqlAsker  # noqa: E402
from inhouse.apps.finance.narrate import check, narrate  # noqa: E402
from inhouse.apps.finance.tables import TableStore  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.ingest.pipeline import embed_pending, ingest  # noqa: E402
from inhouse.models.chat import LlamaCppChat  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402
from inhouse.retrieve import lookup  # noqa: E402
from inhouse.store import open_store  # noqa: E402
from inhouse.types import Principal  # noqa: E402

console = Console(width=150)
DESCRIPTIONS = {
    "": "UCI Online Retail: one row per invoice line of a UK online shop, 2010-12-01 to 2011-12-09. Revenue "
        "(매출) = Quantity * UnitPrice, cancellations included unless a question says otherwise. An order or "
        "invoice (주문) is a distinct InvoiceNo; a customer (고객) is a distinct non-null CustomerID; a month is "
        "date_trunc('month', InvoiceDate); last month means 2011-11; the year is 2011 unless stated.",
    "InvoiceNo": "invoice number; starting with 'C' means a cancellation (취소) line",
    "StockCode": "product code: a product (상품) is a StockCode",
    "Description": "product name, upper case",
    "Quantity": "units on the line; negative for cancellations",
    "InvoiceDate": "when the invoice was made",
    "UnitPrice": "price per unit in pounds sterling",
    "CustomerID": "customer number; empty for guest orders",
    "Country": "the customer's country",
}
# The measures the shop declares (`inhouse analytics measure`): a count of rows where a question names orders is
# counted as orders before the query runs (the model does not read them). Customers are left undeclared: "lines without
# a customer" would name them and must stay a count of lines.
MEASURES = [("orders", "count(DISTINCT InvoiceNo)", "order,orders,주문"),
            ("revenue", "sum(Quantity * UnitPrice)", "revenue,sales,매출")]


def normal(value):  # noqa: ANN001, ANN201
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return round(float(value), 2)  # 3 and 3.0 are the same number
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def same_result(got: list[tuple], gold: list[tuple]) -> bool:
    """The same rows as multisets of values (column names and order aside, numbers to 2 decimals)."""
    def rows(rs: list[tuple]) -> Counter:
        return Counter(tuple(sorted(repr(normal(v)) for v in r)) for r in rs)
    return len(got) == len(gold) and rows(got) == rows(gold)


_WHY = {"is not in the result": "a number not in the result", "says it ": "the wrong direction"}


def narratives(asker: SqlAsker, store: TableStore, questions: list[dict], rows: dict, n: int,
               find=None) -> dict:  # noqa: ANN001
    """Narratives of the first `n` right answers: sentences kept and removed, and every number of the kept ones
    checked again against the result (by construction all of them trace to it); with `find` (a search of the
    policies), the suggestions that cite a passage, kept and removed."""
    kept = removed = numbers = traced = suggestions = cited = cited_kept = passages = 0
    reasons: Counter = Counter()
    citations: Counter = Counter()  # citations the checks removed (the passage does not say it) or added
    examples = []
    picked = [q for q in questions if rows[q["id"]]["right"]][:n]
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"narratives{' with policies' if find else ''}", total=len(picked))
        for q in picked:
            result = store.query(rows[q["id"]]["sql"])
            documents = find(q["question"]) if find is not None else []
            passages += len(documents)
            story = narrate(asker.model, q["question"], result, documents=documents)
            sources = {src.n: src.snippet for src in story.sources}
            for s in story.sentences:
                kept += s.kept
                removed += not s.kept
                suggestions += s.suggestion
                cited += bool(s.cites)
                cited_kept += bool(s.cites) and s.kept
                reasons.update(next((why for key, why in _WHY.items() if key in r), r) for r in s.reasons)
                citations.update("removed" if "removed" in note else "added" for note in s.notes)
                if s.kept:
                    again = check(s.text, result, q["question"], sources)
                    numbers += len(s.numbers)
                    traced += len(s.numbers) if all(x.kept for x in again) else 0
            examples.append({"id": q["id"], **story.to_dict()})
            bar.advance(job)
    out = {"narratives": len(examples), "sentences_kept": kept, "sentences_removed": removed,
           "numbers_in_kept": numbers, "traced": traced, "suggestions": suggestions,
           "removed_because": dict(reasons.most_common()), "examples": examples[:5]}
    if find is not None:
        out |= {"passages_given": passages, "sentences_citing": cited, "citing_kept": cited_kept,
                "citations_removed": citations["removed"], "citations_added": citations["added"]}
    return out


def policy_search(tmp: Path, settings: Settings):  # noqa: ANN201
    """The shop's policies in a knowledge base of their own, searched as the shop's staff (hybrid, k=3)."""
    kb = open_store(tmp / "kb")
    ingest(kb, settings, sorted(POLICIES.glob("*.md")), "retail")
    embedder = load_embedder(settings.embedder)
    embed_pending(kb, embedder)
    return kb, lookup(kb, Principal("retail", "analyst"), settings, embedder, k=3)


def answer_all(asker: SqlAsker, store: TableStore, questions: list[dict], gold: dict, ckpt: Path,
               label: str) -> dict:
    """Every question asked (those in the checkpoint `ckpt` reused; each finished one appended to it)."""
    rows = {}
    if ckpt.exists():
        rows = {r["id"]: r for r in map(json.loads, ckpt.read_text("utf-8").splitlines())}
    todo = [q for q in questions if q["id"] not in rows]
    with Progress(console=console, transient=True) as bar, ckpt.open("a", encoding="utf-8") as f:
        job = bar.add_task(f"{label}: {len(todo)} questions", total=len(todo))
        for q in todo:
            a = asker.ask(q["question"])
            first = a.attempts[0]  # the no-repair baseline: the first query's own result
            first_rows = None if first.error else store.query(first.sql, asker.max_rows).rows
            row = {"id": q["id"], "right": a.result is not None and same_result(a.result.rows, gold[q["id"]]),
                   "first_right": first_rows is not None and same_result(first_rows, gold[q["id"]]),
                   "ran": a.result is not None, "refused": sum(1 for x in a.attempts if x.error),
                   "empty_rewritten": sum(1 for x in a.attempts[:-1] if x.empty),
                   "attempts": len(a.attempts), "sql": a.sql, "first_sql": first.sql,
                   "measure_corrected": sum(bool(x.notes) for x in a.attempts), "seconds": round(a.seconds, 2)}
            rows[q["id"]] = row
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            bar.advance(job)
    return rows


def summarise(questions: list[dict], got: list[dict]) -> dict:
    summary = {}
    for label, pick in (("easy+medium", lambda q: q["difficulty"] in ("easy", "medium")),
                        ("hard", lambda q: q["difficulty"] == "hard"),
                        ("ko", lambda q: q["lang"] == "ko"), ("en", lambda q: q["lang"] == "en"),
                        ("all", lambda q: True)):
        sel = [r for q, r in zip(questions, got, strict=True) if pick(q)]
        if not sel:  # a --limit run may hold no hard question
            continue
        summary[label] = {"n": len(sel), "accuracy": round(sum(r["right"] for r in sel) / len(sel), 3),
                          "first_attempt": round(sum(r["first_right"] for r in sel) / len(sel), 3)}
    summary["ran"] = round(sum(r["ran"] for r in got) / len(got), 3)
    summary["refused_attempts"] = sum(r["refused"] for r in got)
    summary["empty_rewritten"] = sum(r.get("empty_rewritten", 0) for r in got)
    summary["measure_corrected"] = sum(r.get("measure_corrected", 0) > 0 for r in got)
    summary["seconds_per_question"] = round(sum(r["seconds"] for r in got) / len(got), 1)
    return summary


def load_questions() -> list[dict]:
    out = []
    for path in sorted(QUESTIONS.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="qwen2.5-coder-1.5b", help="comma-separated, e.g. also qwen2.5-coder-0.5b")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--narrate", type=int, default=20, help="narrate the first N right answers of the first model")
    args = ap.parse_args()
    if not RETAIL.is_file():
        sys.exit(f"UCI Online Retail not found at {RETAIL}; set INHOUSE_DATA to the folder that holds commerce/.")
    questions = load_questions()[: args.limit]
    CACHE.mkdir(parents=True, exist_ok=True)
    report: dict = {"bench": "analytics", "date": time.strftime("%Y-%m-%d"), "questions": len(questions),
                    "by_difficulty": dict(Counter(q["difficulty"] for q in questions)),
                    "by_lang": dict(Counter(q["lang"] for q in questions)), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        store = TableStore(Path(tmp) / "tables.duckdb")
        store.add(RETAIL, "retail", description=DESCRIPTIONS[""])
        for column, text in DESCRIPTIONS.items():
            if column:
                store.describe("retail", text, column)
        gold = {q["id"]: store.query(q["gold_sql"], max_rows=1000).rows for q in questions}
        registry, settings = Registry(), Settings()
        for model_name in [m for m in args.models.split(",") if m]:
            name, path = registry.resolve(model_name)
            chat = LlamaCppChat(path, name=name, n_ctx=max(settings.n_ctx, 4096), n_threads=args.threads)
            asker = SqlAsker(chat, store)
            # the baseline first (no measures declared), then with the shop's measures; each variant's prompt
            # setup is in its checkpoint's name, so a run with other measures does not reuse its rows
            for label, declared in ((f"{name}, no measures", []), (name, MEASURES)):
                for m in store.measures():
                    store.drop_measure(m.table, m.name)
                for measure, sql, words in declared:
                    store.define_measure("retail", measure, sql, words)
                # what the model reads (the schema) and what corrects its queries (the measures), both
                setup = hashlib.sha256(json.dumps([store.schema_text(), [m.to_dict() for m in store.measures()]],
                                                  ensure_ascii=False).encode()).hexdigest()[:10]
                ckpt = CACHE / (f"{name}-measures-{setup}.jsonl" if declared else f"{name}.jsonl")
                rows = answer_all(asker, store, questions, gold, ckpt, label)
                summary = summarise(questions, [rows[q["id"]] for q in questions])
                summary["measures"] = [m.to_dict() for m in store.measures()]
                if declared and args.narrate and model_name == args.models.split(",")[0]:
                    summary["narratives"] = narratives(asker, store, questions, rows, args.narrate)
                    kb, find = policy_search(Path(tmp), settings)
                    try:
                        summary["narratives_with_policies"] = narratives(asker, store, questions, rows,
                                                                         args.narrate, find)
                    finally:
                        kb.close()
                report["models"][label] = summary
            del asker, chat
        store_note = "every query that ran passed the SQL checks and ran read-only (by construction)"
        report["read_only"] = store_note
    table = Table(title=f"Execution accuracy, {len(questions)} questions over UCI Online Retail")
    for col in ("model", "easy+medium", "hard", "ko", "en", "all", "first attempt (all)", "measure-corrected",
                "s / question"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, s in report["models"].items():
        table.add_row(name, *(f"{s[k]['accuracy']:.2f}" if k in s else "-"
                              for k in ("easy+medium", "hard", "ko", "en", "all")),
                      f"{s['all']['first_attempt']:.2f}", str(s["measure_corrected"]),
                      f"{s['seconds_per_question']:.1f}")
    console.print(table)
    first = next((m for m in report["models"].values() if "narratives" in m), {})
    if first:
        table = Table(title=f"Narratives of {first['narratives']['narratives']} right answers")
        for col in ("", "sentences kept", "removed", "numbers in kept (traced)", "citing a policy (kept)"):
            table.add_column(col, justify="left" if not col else "right")
        for label, key in (("the result alone", "narratives"),
                           ("with the shop's policies", "narratives_with_policies")):
            r = first[key]
            table.add_row(label, str(r["sentences_kept"]), str(r["sentences_removed"]),
                          f"{r['numbers_in_kept']} ({r['traced']})",
                          f"{r['sentences_citing']} ({r['citing_kept']})" if "sentences_citing" in r else "-")
        console.print(table)
    out = ROOT / "bench" / "results" / "analytics.json"
    atomic_write_json(out, report)
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
