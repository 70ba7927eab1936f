"""PII detection: precision and recall per type on two labelled sets, and throughput (MB/s).

The labelled set (tests/data/pii/labelled.jsonl, written by tests/data/pii/generate.py) has Korean and
English sentences with PII at labelled offsets and hard negatives (order numbers, dates, product codes,
phone-like serials, numbers failing their checksum). The spec set (tests/data/pii/spec.jsonl, written by
tests/data/pii/generate_spec.py) is built from published format rules (bank account groupings, the
numbering plan, ISO/IEC 7812, IPv6...), each record naming its rule, with near-miss negatives (tracking
and order numbers next to refund words, amounts, timestamps, ISBNs, netmasks...). A detection counts only
if type, start and end all match a label. Baseline in the same run: bare regexes per type without any
validation or context, on both sets.

    python bench/pii.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
LABELLED = ROOT / "tests" / "data" / "pii" / "labelled.jsonl"
SPEC = ROOT / "tests" / "data" / "pii" / "spec.jsonl"
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))

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
    "NAME": re.compile(r"[가-힣]{2,4}(?=\s?(?:님|씨))|(?<=(?:명|름|주):\s)[가-힣]{2,4}|"
                       r"(?<=(?:Mr|Ms|Dr)\.\s)[A-Z][a-z]+ [A-Z][a-z]+"),
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
        p, r = tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0
        out[t] = {**c, "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
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


def natural_text() -> dict[str, str]:
    """Unlabelled encyclopedic text (KorQuAD/XQuAD paragraphs): where the detectors fire on real prose."""
    out = {}
    for name, path in (("korquad-dev", DATA / "ko_qa" / "korquad_v1.0_dev.json"),
                       ("xquad-en", DATA / "en_qa" / "xquad.en.json")):
        if path.exists():
            data = json.loads(path.read_text("utf-8"))
            out[name] = "\n".join(sorted({p["context"] for a in data["data"] for p in a["paragraphs"]}))
    return out


def score_table(console: Console, path: Path, records: list[dict], guard: dict, bare: dict) -> None:
    n_pos = sum(len(r["spans"]) for r in records)
    n_neg = sum(r["kind"] == "negative" for r in records)
    table = Table(title=f"PII detection: {n_pos} labelled spans, {n_neg} hard negatives ({path.name})")
    for col in ("type", "gold", "P", "R", "F1", "bare P", "bare R", "bare F1"):
        table.add_column(col, justify="left" if col == "type" else "right")
    for t in TYPES:
        g, b = guard[t], bare[t]
        table.add_row(t, str(g["tp"] + g["fn"]), f"{g['precision']:.3f}", f"{g['recall']:.3f}", f"{g['f1']:.3f}",
                      f"{b['precision']:.3f}", f"{b['recall']:.3f}", f"{b['f1']:.3f}")
    console.print(table)


def run_set(console: Console, path: Path) -> dict:
    """Scores of the guard and the bare regexes on one labelled set (printed, and returned for the JSON)."""
    records = load(path)
    guard, bare = evaluate(records, guard_detect), evaluate(records, bare_detect)
    score_table(console, path, records, guard, bare)
    mistakes = errors(records, guard_detect)
    for m in mistakes[:20]:
        console.print(f"[yellow]disagrees:[/yellow] {m['text']!r} missed={m['missed']} extra={m['extra']}",
                      highlight=False)
    return {
        "labelled_spans": sum(len(r["spans"]) for r in records),
        "hard_negatives": sum(r["kind"] == "negative" for r in records),
        "records": len(records), "guard": guard, "bare": bare, "disagreements": len(mistakes), "mistakes": mistakes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="passes over the set for the throughput figure")
    args = ap.parse_args()
    console = Console()
    first = run_set(console, LABELLED)
    spec = run_set(console, SPEC)
    texts = [r["text"] for r in load(LABELLED)]
    speed = {"guard": throughput(texts, guard_detect, args.repeat), "bare": throughput(texts, bare_detect, args.repeat)}
    console.print(f"throughput: guard {speed['guard']:.2f} MB/s, bare regexes {speed['bare']:.2f} MB/s")
    prose = {}
    for name, text in natural_text().items():
        mb = len(text.encode("utf-8")) / 1e6
        t0 = time.perf_counter()
        found = guard_detect(text)
        prose_speed = mb / (time.perf_counter() - t0)
        counts: dict[str, int] = {}
        for t, _, _ in found:
            counts[t] = counts.get(t, 0) + 1
        bare_n = len(bare_detect(text))
        prose[name] = {"mb": round(mb, 2), "flags": counts, "bare_flags": bare_n, "mb_s": round(prose_speed, 2)}
        console.print(f"{name} ({mb:.2f} MB of prose, unlabelled): guard flags {counts or 'nothing'} "
                      f"at {prose_speed:.2f} MB/s; bare regexes flag {bare_n} spans", highlight=False)
    first.pop("mistakes")
    atomic_write_json(ROOT / "bench" / "results" / "pii.json", {
        **first, "throughput_mb_s": speed, "prose": prose,
        # The spec set's disagreements are kept in full: they are the cases the detectors get wrong.
        "spec": {"set": str(SPEC.relative_to(ROOT)), **spec},
    })


if __name__ == "__main__":
    main()
