"""Red-team suite: attempts and leaks per category, for a worst-case model and the real local model.

Every case (≥100, Korean and English) runs through retrieval, screening and masking with a model that
obeys anything (WorstCaseChat); the end-to-end subset also runs with the real model. Baseline in the
same run: the worst-case model with the guard's screening switched off (no neutralizing, no masking,
no link stripping), which shows what the screening layer stops; tenant and group filtering in the store
stay on in both (they are not part of the guard).

    python bench/redteam.py [--model qwen2.5-coder-0.5b] [--e2e 26]
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

from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.redteam.suite import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="registered model for the end-to-end cases")
    ap.add_argument("--e2e", type=int, default=26, help="end-to-end cases with the real model (0: none)")
    args = ap.parse_args()
    settings = Settings(embedder="hash")
    real = None
    if args.e2e:
        from inhouse.cli.answer import load_chat_model

        real = load_chat_model(args.model)
    t0 = time.perf_counter()
    guarded = run("bank", settings, real, args.e2e).to_json()
    elapsed = time.perf_counter() - t0
    baseline = run("bank", settings, None, 0, guarded=False).to_json()
    table = Table(title=f"Red team: {guarded['cases']} cases, {guarded['e2e_attempts']} end to end ({elapsed:.0f} s)")
    for col in ("category / model", "attempts", "leaks (guard)", "leaks (no screening)"):
        table.add_column(col, justify="left" if col.startswith("category") else "right")
    for key, c in guarded["by_category"].items():
        b = baseline["by_category"].get(key, {})
        table.add_row(key, str(c["attempts"]), str(c["leaks"]), str(b.get("leaks", "-")))
    console = Console()
    console.print(table)
    console.print(f"guard: {guarded['attempts']} attempts, {guarded['leaks']} leaks; "
                  f"without screening: {baseline['attempts']} attempts, {baseline['leaks']} leaks")
    atomic_write_json(ROOT / "bench" / "results" / "redteam.json", {
        "cases": guarded["cases"], "attempts": guarded["attempts"], "e2e_attempts": guarded["e2e_attempts"],
        "leaks": guarded["leaks"], "baseline_leaks": baseline["leaks"], "seconds": round(elapsed, 1),
        "by_category": guarded["by_category"], "baseline_by_category": baseline["by_category"],
        "results": guarded["results"],
    })


if __name__ == "__main__":
    main()
