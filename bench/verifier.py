"""Claim verifier accuracy, with a reproducible threshold calibration.

- HaluEval QA (one-turn, HotpotQA knowledge): each item gives a right and a hallucinated answer; the
  verifier scores each answer against the knowledge. Balanced accuracy = mean of the recall on right
  answers (supported) and on hallucinated ones (unsupported).
- Korean: KLUE-NLI dev and KorNLI (XNLI ko dev) entailment vs contradiction pairs (neutral left out):
  premise = source, hypothesis = claim.

The threshold is chosen on one half of the items (pairs 0, 2, 4, …: calibration) and reported on the
other half (held out), so the number is not tuned on what it reports. Baseline in the same run: the
same scorer without the number and negation checks (bare term overlap).

    python bench/verifier.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.verify import content_terms, support  # noqa: E402


def halueval(limit: int | None) -> list[tuple[str, str, bool]]:
    items = []
    with (DATA / "halu" / "halueval_qa_oneturn_hotpot.json").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                items.append((d["knowledge"], d["right_answer"], True))
                items.append((d["knowledge"], d["hallucinated_answer"], False))
    return items[: 2 * limit] if limit else items


def klue_nli(limit: int | None) -> list[tuple[str, str, bool]]:
    data = json.loads((DATA / "ko_nlu" / "klue-nli-v1.1_dev.json").read_text("utf-8"))
    items = [(d["premise"], d["hypothesis"], d["gold_label"] == "entailment") for d in data
             if d["gold_label"] in ("entailment", "contradiction")]
    return items[:limit] if limit else items


def kornli(limit: int | None) -> list[tuple[str, str, bool]]:
    with (DATA / "ko_nlu" / "xnli.dev.ko.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    items = [(r["sentence1"], r["sentence2"], r["gold_label"] == "entailment") for r in rows
             if r["gold_label"] in ("entailment", "contradiction")]
    return items[:limit] if limit else items


def bare_overlap(claim: str, source: str) -> float:
    terms = content_terms(claim)
    return len(terms & content_terms(source)) / len(terms) if terms else 0.0


def balanced_accuracy(scores: list[float], labels: list[bool], threshold: float) -> float:
    pos = [s >= threshold for s, y in zip(scores, labels, strict=True) if y]
    neg = [s < threshold for s, y in zip(scores, labels, strict=True) if not y]
    return (sum(pos) / max(1, len(pos)) + sum(neg) / max(1, len(neg))) / 2


def _half(values: list, which: int) -> list:
    """Items in pairs alternate halves (HaluEval lists a right and a wrong answer per question)."""
    return [v for i, v in enumerate(values) if (i // 2) % 2 == which]


def calibrate(scores: list[float], labels: list[bool]) -> tuple[float, float, float]:
    """Best threshold on the calibration half; (threshold, calibration BA, held-out BA)."""
    cal = (_half(scores, 0), _half(labels, 0))
    test = (_half(scores, 1), _half(labels, 1))
    grid = [i / 100 for i in range(5, 100, 5)]
    best = max(grid, key=lambda t: (balanced_accuracy(*cal, t), -abs(t - 0.6)))
    return best, balanced_accuracy(*cal, best), balanced_accuracy(*test, best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "verifier.json")
    args = ap.parse_args()
    console = Console()
    results = {}
    for name, loader in (("halueval_qa", halueval), ("klue_nli", klue_nli), ("kornli_xnli_dev", kornli)):
        items = loader(args.limit)
        labels = [y for _, _, y in items]
        t0 = time.perf_counter()
        scores = [support(claim, source)[0] for source, claim, _ in items]
        elapsed = time.perf_counter() - t0
        base = [bare_overlap(claim, source) for source, claim, _ in items]
        thr, cal_ba, test_ba = calibrate(scores, labels)
        bthr, bcal, btest = calibrate(base, labels)
        results[name] = {"items": len(items), "threshold": thr, "calibration_ba": round(cal_ba, 4),
                         "heldout_ba": round(test_ba, 4),
                         "heldout_ba_at_0.6": round(balanced_accuracy(_half(scores, 1), _half(labels, 1), 0.6), 4),
                         "baseline_overlap": {"threshold": bthr, "heldout_ba": round(btest, 4)},
                         "ms_per_claim": round(1000 * elapsed / len(items), 2)}
    table = Table(title="Claim verifier: balanced accuracy (threshold from the calibration half)")
    for col in ("data", "items", "threshold", "held-out BA", "BA @0.6", "baseline BA", "ms/claim"):
        table.add_column(col)
    for name, r in results.items():
        table.add_row(name, str(r["items"]), f"{r['threshold']:.2f}", f"{r['heldout_ba']:.3f}",
                      f"{r['heldout_ba_at_0.6']:.3f}", f"{r['baseline_overlap']['heldout_ba']:.3f}",
                      str(r["ms_per_claim"]))
    console.print(table)
    target = results["halueval_qa"]["heldout_ba"] >= 0.80
    console.print(f"{'PASS' if target else 'FAIL'} halueval_qa held-out balanced accuracy >= 0.80")
    atomic_write_json(args.out, {"bench": "verifier", "date": time.strftime("%Y-%m-%d"), "results": results,
                                 "targets": {"halueval_qa_ba>=0.80": target}}, indent=2)


if __name__ == "__main__":
    main()
