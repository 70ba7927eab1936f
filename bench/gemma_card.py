"""Gemma 3 270M (base; the packaged Q4_K_M GGUF) on the tasks of its model card, at the card's shots.

The card (Gemma 3 270M, pre-trained) reports HellaSwag 10-shot 40.9, BoolQ 0-shot 61.4, PIQA 0-shot 67.7,
ARC-c 25-shot 29.0, ARC-e 0-shot 57.7 and WinoGrande 5-shot 52.0, without saying whether a score is
`acc` or `acc_norm`, so both are printed. The first `--limit` items of each task are scored (in file
order, as `inhouse eval run --limit` does); each score comes with its standard error, and the table says
whether the card's number lies within two standard errors. Why numbers differ: the quantised Q4_K_M
file (the card used bf16), the prompt formats of the local data files (MosaicML's ICL files, see
docs/eval.md), a subset instead of the whole set, and the unknown metric.

    pip install -e '.[model-gemma]'
    flock /tmp/inhouse-heavy.lock python bench/gemma_card.py [--limit 500] [--tasks hellaswag,arc_easy]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.evals import run_eval  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402

# task: (shots, the card's score in %)
CARD = {"hellaswag": (10, 40.9), "boolq": (0, 61.4), "piqa": (0, 67.7), "arc_challenge": (25, 29.0),
        "arc_easy": (0, 57.7), "winogrande": (5, 52.0)}
console = Console()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=500, help="first N items of each task")
    ap.add_argument("--tasks", default=",".join(CARD))
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gemma_card.json")
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in CARD]
    if unknown:
        sys.exit(f"error: not on the card: {', '.join(unknown)} (card tasks: {', '.join(CARD)})")
    t0 = time.perf_counter()
    res = run_eval(args.model, tasks, limit=args.limit, shots={t: CARD[t][0] for t in tasks},
                   n_threads=args.threads, n_ctx=8192)
    table = Table(title=f"{res['model']} vs its model card (first {args.limit} items per task; scores in %)")
    for col in ("task", "shots", "n", "acc", "acc_norm", "card", "card within 2 SE of", "seconds"):
        table.add_column(col, justify="left" if col == "task" else "right")
    rows = {}
    for t in tasks:
        s = res["results"][t]
        card = CARD[t][1]
        near = [m for m in ("acc", "acc_norm")
                if m in s and abs(100 * s[m] - card) <= 200 * (s.get(f"{m}_stderr") or 0)]
        rows[t] = {"shots": CARD[t][0], "card": card, **s, "card_within_2se_of": near,
                   "seconds": res["seconds"][t]}
        table.add_row(t, str(CARD[t][0]), str(s["n"]),
                      *(f"{100 * s[m]:.1f} ± {100 * s[f'{m}_stderr']:.1f}" if m in s else "—"
                        for m in ("acc", "acc_norm")),
                      f"{card:.1f}", ", ".join(near) or "neither", f"{res['seconds'][t]:.0f}")
    console.print(table)
    out = {"bench": "gemma_card", "date": time.strftime("%Y-%m-%d"), "model": res["model"],
           "file_sha256": res["file_sha256"], "limit": args.limit, "tasks": rows,
           "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, out, indent=2)
    console.print(f"wall time {out['wall_s']} s → {args.out}")


if __name__ == "__main__":
    main()
