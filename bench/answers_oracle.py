"""What a perfect verifier would make of the recorded drafts: the ceiling of verification.

`bench/answers_pooled.py` replays every recorded sample with the current pipeline (its rows are in --work). This
bench takes the same rows and replaces the verifier (and the judge) by the truth: a right draft is kept, a wrong
one refused. The rest is the pipeline's: the relevance gate refuses before generation, a refused draft falls
back to quoting the source sentence that covers the question (`inhouse.answer.quote`, at the pipeline's
threshold of 0.7 and at lower ones), an open question's NOT_FOUND draft is refused, and an English follow-up
counts where the pipeline asked one (its recorded reply). With the gold paragraph removed every draft is wrong,
so only quotes answer. The pipeline's own figures on the same rows are the baseline.

    python bench/answers_pooled.py && python bench/answers_oracle.py [--work DIR] [--thresholds 0.7,0.6,0.5]

If the targets fail here, no verifier can meet them with these drafts and this fallback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.answer import AnswerPolicy, Question, Source, is_not_found, quote  # noqa: E402
from inhouse.evals.rag import contains_answer  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402

_spec = importlib.util.spec_from_file_location("answers_pooled", ROOT / "bench" / "answers_pooled.py")
pooled = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pooled)

console = Console()
MIN_QUOTE = AnswerPolicy().min_quote_relevance  # the pipeline's quote threshold


def oracle_outcome(row: dict, threshold: float) -> str:
    """"right", "wrong" or "abstained" for a replayed row, with the truth as the verifier."""
    if row["mode"].startswith("abstained (relevance"):
        return "abstained"
    if row["raw_found"] and row["gold_in_sources"]:  # (a gold string in a draft without its paragraph is luck)
        return "right"
    if is_not_found(row["draft"].strip()) and not Question(row["question"]).closed:
        return "abstained"
    coverage, right = _quote(row["question"], tuple(row["sources"]), tuple(row["answers"]))
    if coverage >= threshold:
        return "right" if right else "wrong"
    # The English follow-up, where the pipeline asked it (recorded): kept if right.
    if row.get("follow_up") and row["gold_in_sources"] and contains_answer(row["follow_up"], row["answers"]):
        return "right"
    return "abstained"


@cache  # one quote a row, whatever the threshold
def _quote(question: str, sources: tuple[str, ...], answers: tuple[str, ...]) -> tuple[float, bool]:
    """The fallback's quote from these sources: its coverage of the question (-1 when there is none), and
    whether it holds a gold answer."""
    listed = [Source(n, 0, "", None, text, text) for n, text in enumerate(sources, start=1)]
    text, _quoted, coverage = quote(Question(question), listed) if listed else ("", [], 0.0)
    return (coverage, contains_answer(text, list(answers))) if text else (-1.0, False)


def rates(rows: list[dict], threshold: float | None) -> dict:
    """Recall, abstention and wrong answers of `rows`: the oracle's at `threshold`, or the pipeline's (None)."""
    if threshold is None:
        outcomes = ["abstained" if r["abstained"] else "right" if r["found"] else "wrong" for r in rows]
    else:
        outcomes = [oracle_outcome(r, threshold) for r in rows]
    n = len(outcomes)
    return {"n": n, "answer_recall": round(outcomes.count("right") / n, 3),
            "abstention": round(outcomes.count("abstained") / n, 3), "wrong": outcomes.count("wrong")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".cache" / "pooled",
                    help="the replayed rows bench/answers_pooled.py wrote (its --work)")
    ap.add_argument("--thresholds", default=",".join(f"{t / 100:.2f}" for t in range(round(MIN_QUOTE * 100), 49, -1)),
                    help="the fallback's quote thresholds to try (default: the pipeline's, 0.70, to 0.50 by 0.01)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answers_oracle.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    missing = [s for s in pooled.RECORDED if not (args.work / f"seed{s}.json").is_file()]
    if missing:
        sys.exit(f"error: no replayed rows for seeds {missing} in {args.work}; run bench/answers_pooled.py first "
                 "(with --work DIR if you give this bench one).")
    per_seed = {s: json.loads((args.work / f"seed{s}.json").read_text("utf-8")) for s in pooled.RECORDED}
    thresholds = [float(x) for x in args.thresholds.split(",")]
    result: dict = {}
    table = Table(title="The recorded drafts with a perfect verifier (the pipeline's gate and fallback)")
    for col in ("lang", "verifier", "quote threshold", "n", "recall (≥ 0.70)", "answerable abstain (≤ 0.15)",
                "wrong", "gold-removed abstain (≥ 0.90)"):
        table.add_column(col)
    for lang in ("ko", "en"):
        samples = [res["items"][lang] for res in per_seed.values() if lang in res["items"]]
        if not samples:
            continue
        answerable = [r for s in samples for r in s["answerable"] if not r.get("stale")]
        removed = [r for s in samples for r in s["gold_removed"] if not r.get("stale")]
        result[lang] = []
        for threshold in [None, *thresholds]:
            a, g = rates(answerable, threshold), rates(removed, threshold)
            entry = {"verifier": "pipeline" if threshold is None else "perfect",
                     "quote_threshold": MIN_QUOTE if threshold is None else threshold,
                     "answerable": a, "gold_removed": g,
                     "targets_met": all(pooled.answers.quality_targets(lang, a, g).values())}
            result[lang].append(entry)
            table.add_row(lang, entry["verifier"], f"{entry['quote_threshold']:.2f}", str(a["n"]),
                          f"{a['answer_recall']:.3f}", f"{a['abstention']:.3f}", str(a["wrong"]),
                          f"{g['abstention']:.3f}")
    console.print(table)
    for lang, entries in result.items():
        met = [e["quote_threshold"] for e in entries if e["verifier"] == "perfect" and e["targets_met"]]
        console.print(f"{lang}: a perfect verifier meets the three targets at quote threshold "
                      f"{', '.join(map(str, met))}" if met else f"{lang}: a perfect verifier meets the three targets "
                      "at none of these quote thresholds")
    out = {"bench": "answers_oracle", "date": time.strftime("%Y-%m-%d"), "seeds": list(per_seed),
           "thresholds": thresholds, "results": result, "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, out, indent=2)
    console.print(f"wall time {out['wall_s']} s → {args.out}")


if __name__ == "__main__":
    main()
