"""PII detection: precision and recall per type on the labelled set, and throughput (MB/s).

The labelled set (tests/data/pii/labelled.jsonl, written by tests/data/pii/generate.py) has Korean and
English sentences with PII at labelled offsets and hard negatives (order numbers, dates, product codes,
phone-like serials, numbers failing their checksum). A detection counts only if type, start and end all
match a label. Baseline in the same run: bare regexes per type without any validation or context.

    python bench/pii.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
LABELLED = ROOT / "tests" / "data" / "pii" / "labelled.jsonl"

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.guard.pii import TYPES, detect  # noqa: E402

Detector = Callable[[str], list[tuple[str, int, int]]]

# The bare patterns people write first: right shape, no dates, checksums or context.
BARE: dict[str, re.Pattern[str]] = {
    "RRN": re.compile(r"\d{6}-?[1-4]\d{6}"),
    "FRN": re.compile(r"\d{6}-?[5-8]\d{6}"),
    "PHONE": re.compile(r"(?:\+82-?|0)\d{1,2}[-. ]?\d{3,4}[-. ]?\d{4}"),
    "CARD": re.compile(r"\d{4}[- ]?\d{4,6}[- ]?\d{4,5}(?:[- ]?\d{4})?"),
    "ACCOUNT": re.compile(r"\d{3,6}-\d{2,6}-\d{2,7}(?:-\d{2,3})?"),
    "EMAIL": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*"),
    "PASSPORT": re.compile(r"[A-Z]\d{8}|[A-Z]\d{3}[A-Z]\d{4}"),
    "DRIVER_LICENSE": re.compile(r"\d{2}-\d{2}-\d{6}-\d{2}"),
    "BRN": re.compile(r"\d{3}-\d{2}-\d{5}"),
    "IP": re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
    "NAME": re.compile(r"[가-힣]{2,4}(?=\s?(?:님|씨))|(?<=(?:명|름|주):\s)[가-힣]{2,4}|(?<=(?:Mr|Ms|Dr)\.\s)[A-Z][a-z]+ [A-Z][a-z]+"),
}


def bare_detect(text: str) -> list[tuple[str, int, int]]:
    """All bare-regex matches (overlaps between types allowed, as a naive scanner would report)."""
    return [(t, m.start(), m.end()) for t, p in BARE.items() for m in p.finditer(text)]


def guard_detect(text: str) -> list[tuple[str, int, int]]:
    return [(m.type, m.start, m.end) for m in detect(text)]


def load(path: Path = LABELLED) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def evaluate(records: list[dict], detector: Detector) -> dict[str, dict[str, float]]:
    """Per-type true positives, false positives, false negatives, precision and recall."""
    counts = {t: {"tp": 0, "fp": 0, "fn": 0} for t in TYPES}
    for r in records:
        gold = {(t, s, e) for t, s, e in r["spans"]}
        found = set(detector(r["text"]))
        for t, _, _ in found & gold:
            counts[t]["tp"] += 1
        for t, _, _ in found - gold:
            counts[t]["fp"] += 1
        for t, _, _ in gold - found:
            counts[t]["fn"] += 1
    out: dict[str, dict[str, float]] = {}
    for t, c in counts.items():
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        out[t] = {**c, "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}
    return out


def errors(records: list[dict], detector: Detector) -> list[dict]:
    """Records where the detector disagrees with the labels (for reading, not for scoring)."""
    bad = []
    for r in records:
        gold = {(t, s, e) for t, s, e in r["spans"]}
        found = set(detector(r["text"]))
        if gold != found:
            bad.append({"text": r["text"], "missed": sorted(gold - found), "extra": sorted(found - gold)})
    return bad


def throughput(texts: list[str], detector: Detector, repeat: int) -> float:
    """MB/s over the set's texts joined into one document (as a loader would hand over a file)."""
    doc = "\n".join(texts)
    size = len(doc.encode("utf-8")) * repeat
    t0 = time.perf_counter()
    for _ in range(repeat):
        detector(doc)
    return size / 1e6 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="passes over the set for the throughput figure")
    args = ap.parse_args()
    records = load()
    texts = [r["text"] for r in records]
    guard, bare = evaluate(records, guard_detect), evaluate(records, bare_detect)
    speed = {"guard": throughput(texts, guard_detect, args.repeat), "bare": throughput(texts, bare_detect, args.repeat)}
    n_pos = sum(len(r["spans"]) for r in records)
    n_neg = sum(r["kind"] == "negative" for r in records)
    table = Table(title=f"PII detection: {n_pos} labelled spans, {n_neg} hard negatives ({LABELLED.name})")
    for col in ("type", "gold", "precision", "recall", "bare precision", "bare recall"):
        table.add_column(col, justify="left" if col == "type" else "right")
    for t in TYPES:
        g, b = guard[t], bare[t]
        table.add_row(t, str(g["tp"] + g["fn"]), f"{g['precision']:.3f}", f"{g['recall']:.3f}",
                      f"{b['precision']:.3f}", f"{b['recall']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"throughput: guard {speed['guard']:.2f} MB/s, bare regexes {speed['bare']:.2f} MB/s")
    mistakes = errors(records, guard_detect)
    for m in mistakes[:20]:
        console.print(f"[yellow]disagrees:[/yellow] {m['text']!r} missed={m['missed']} extra={m['extra']}", highlight=False)
    atomic_write_json(ROOT / "bench" / "results" / "pii.json", {
        "labelled_spans": n_pos, "hard_negatives": n_neg, "records": len(records),
        "guard": guard, "bare": bare, "throughput_mb_s": speed, "disagreements": len(mistakes),
    })


if __name__ == "__main__":
    main()
