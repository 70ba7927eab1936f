"""The extraction audit after a real fine-tune: canaries planted 1, 10 and 100 times in a partner's training
export, a LoRA adapter trained on it on the CPU, then each canary's exposure and verbatim extraction, against
the untrained base model in the same run.

Everything goes through the `inhouse` command, as an operator would run it, in its own INHOUSE_HOME
(bench/.cache/consortium_canaries): a partner contributes NSMC movie reviews (../shared/data/ko_reviews, 30
characters or more, the first `--texts`), canaries are planted (`--per-level` for each repeat count, a fixed
seed), `consortium export --for-tune` writes the examples, `tune model` trains (checkpointed: an interrupted
run resumes), `consortium audit` scores the base and the adapter. Exposure = log₂(candidates+1) − log₂ rank
(Carlini et al., "The Secret Sharer", 2019); extracted = greedy decoding from the prefix writes the secret;
blocked = the copy filter stops that output.

    python bench/consortium_canaries.py [--texts 400] [--base qwen2.5-coder-0.5b] [--candidates 1000]

Writes bench/results/consortium_canaries.json and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
NSMC = DATA / "ko_reviews" / "nsmc_top300_movies.tsv"
WORK = ROOT / "bench" / ".cache" / "consortium_canaries"

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.files import atomic_write_json  # noqa: E402

console = Console(width=150)


def inhouse(home: Path, *args: str, json_out: bool = True) -> dict:
    env = {**os.environ, "INHOUSE_HOME": str(home), "INHOUSE_EMBEDDER": "hash"}
    cmd = [str(Path(sys.executable).parent / "inhouse"), *args, *(["--json"] if json_out else [])]
    console.print(f"[dim]$ inhouse {' '.join(args)}[/dim]")
    done = subprocess.run(cmd, env=env, capture_output=json_out, text=True)
    if done.returncode:
        sys.exit(f"inhouse {' '.join(args)} failed ({done.returncode}): {done.stderr if json_out else ''}")
    return json.loads(done.stdout) if json_out else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=400, help="partner texts (NSMC reviews) in the export")
    ap.add_argument("--base", default="qwen2.5-coder-0.5b")
    ap.add_argument("--per-level", type=int, default=2)
    ap.add_argument("--repeats", default="1,10,100")
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--epochs", type=float, default=1.0)
    args = ap.parse_args()
    home = WORK / "home"
    home.mkdir(parents=True, exist_ok=True)
    state = WORK / "state.json"
    done = json.loads(state.read_text()) if state.exists() else {}

    def step(name: str, fn) -> dict:  # noqa: ANN001
        if name not in done:
            t0 = time.perf_counter()
            done[name] = {"result": fn(), "seconds": round(time.perf_counter() - t0, 1)}
            atomic_write_json(state, done)
        return done[name]["result"]

    def contribute() -> dict:
        texts = []
        with NSMC.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if len((row.get("review") or "").strip()) >= 30:
                    texts.append(row["review"].strip())
                if len(texts) == args.texts:
                    break
        src = WORK / "partner.csv"
        with src.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            w.writerows([t] for t in texts)
        return inhouse(home, "consortium", "add", "--partner", "press", str(src), "--text-column", "text",
                       "--model", args.base)

    step("contribute", contribute)
    planted = step("canaries", lambda: inhouse(home, "consortium", "canaries", "--repeats", args.repeats,
                                               "--per-level", str(args.per_level), "--seed", "7"))
    export = WORK / "export"
    step("export", lambda: inhouse(home, "consortium", "export", str(export), "--for-tune"))
    examples = sum(1 for _ in (export / "examples.jsonl").open(encoding="utf-8"))
    adapter = f"canaries-{args.base}"
    train = step("tune", lambda: inhouse(home, "tune", "model", "--tenant", "consortium", "--base", args.base,
                                         "--name", adapter, "--data", str(export / "examples.jsonl"),
                                         "--epochs", str(args.epochs), "--refusal-share", "0",
                                         "--work", str(WORK / "tune")))
    base = step("audit_base", lambda: inhouse(home, "consortium", "audit", "--model", args.base,
                                              "--candidates", str(args.candidates)))
    tuned = step("audit_adapter", lambda: inhouse(home, "consortium", "audit", "--model", args.base, "--adapter",
                                                  adapter, "--candidates", str(args.candidates)))

    rows = []
    for level in sorted({c["repeats"] for c in planted["canaries"]}):
        row = {"repeats": level}
        for name, audit in (("base", base), ("adapter", tuned)):
            mine = [c for c in audit["canaries"] if c["repeats"] == level]
            row[name] = {
                "canaries": len(mine),
                "exposure_mean": round(mean(c["exposure"] for c in mine), 2) if mine else None,
                "exposure": [round(c["exposure"], 2) for c in mine],
                "extracted": sum(bool(c["extracted"]) for c in mine),
                "blocked": sum(bool(c["extracted"]) and bool(c["blocked"]) for c in mine),
            }
        rows.append(row)
    out = {"base_model": args.base, "partner_texts": args.texts, "examples": examples,
           "candidates": args.candidates, "max_exposure": round(math.log2(args.candidates + 1), 2),
           "train": train,
           "train_seconds": done["tune"]["seconds"], "levels": rows,
           "audit_base": base, "audit_adapter": tuned}
    atomic_write_json(ROOT / "bench" / "results" / "consortium_canaries.json", out)

    table = Table(title=f"Canary exposure after a LoRA fine-tune of {args.base} on {examples} examples "
                        f"({args.candidates} candidates; most {out['max_exposure']})")
    for col in ("repeats", "base exposure", "adapter exposure", "extracted (base / adapter)", "blocked"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["repeats"]), str(r["base"]["exposure"]), str(r["adapter"]["exposure"]),
                      f"{r['base']['extracted']} / {r['adapter']['extracted']} of {r['adapter']['canaries']}",
                      f"{r['adapter']['blocked']} of {r['adapter']['extracted']}")
    console.print(table)


if __name__ == "__main__":
    main()
