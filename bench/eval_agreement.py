"""Agreement and speed of InHouse's evaluation harness against lm-evaluation-harness, on one GGUF.

Runs, in one go and on the same items (the first N of each file) and settings (0-shot):
  1. InHouse: `inhouse.evals` scoring on llama.cpp (fresh cache, so everything is computed);
  2. lm-eval 0.4.x with its `hf` backend on the same GGUF loaded through transformers (dequantised to
     fp32; lm-eval's `gguf` backend gives wrong scores for Qwen GGUFs, see FINDINGS.md), with the task
     YAMLs in bench/lmeval_tasks/ over the same local data converted to the hub datasets' layout, so
     that lm-eval's own code builds the prompts.
It reports per-task scores, their difference in points, per-item agreement of the chosen answer, the
mean |difference| of per-choice log-likelihoods, and the wall time of each side.

    pip install -e '.[evalref]'
    flock /tmp/inhouse-heavy.lock python bench/eval_agreement.py --limit 50
Targets (issue 6): |Δ| ≤ 0.5 points on arc_easy, hellaswag (≥ 1,000 items), truthfulqa_mc2; ≤ 1 point on
kobest_copa; InHouse ≥ 2× faster.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from inhouse.evals.adapters import FORMATS, data_path
from inhouse.evals.requests import build_items
from inhouse.evals.runner import load_task, resolve_model, score_items, task_scores
from inhouse.evals.spec import get_spec
from inhouse.evals.store import EvalStore
from inhouse.files import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "eval_agreement.json"
# task -> (lm-eval task name, metrics compared: InHouse metric -> lm-eval metric key)
TASKS = {
    "arc_easy": ("ie_arc_easy", {"acc": "acc", "acc_norm": "acc_norm"}),
    "hellaswag": ("ie_hellaswag", {"acc": "acc", "acc_norm": "acc_norm"}),
    "truthfulqa_mc2": ("ie_truthfulqa_mc2", {"mc2": "acc"}),
    "kobest_copa": ("ie_kobest_copa", {"acc": "acc"}),
}
TARGET_POINTS = {"arc_easy": 0.5, "hellaswag": 0.5, "truthfulqa_mc2": 0.5, "kobest_copa": 1.0}
console = Console()


def write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def convert_data(work: Path) -> None:
    """The local files in the layout lm-eval's hub tasks expect (raw fields, no InHouse processing)."""
    d = work / "data"
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "arc_easy.jsonl", FORMATS["jsonl"](data_path("mc/foundry_arc_easy.jsonl")))
    rows = []
    for rec in FORMATS["hellaswag_txt"](data_path("mc/hellaswag_val_full.txt.bz2")):
        label, _, ctx = rec["ctx"].partition(": ")  # the file holds "activity_label: ctx"
        rows.append({"activity_label": label, "ctx_a": ctx, "ctx_b": "", "endings": rec["endings"],
                     "label": str(rec["label"])})
    write_jsonl(d / "hellaswag.jsonl", rows)
    tq = json.loads(data_path("mc/truthfulqa_v0_mc_task_817.json").read_text("utf-8"))
    write_jsonl(d / "truthfulqa_mc.jsonl", [
        {"question": r["question"],
         "mc1_targets": {"choices": list(r["mc1_targets"]), "labels": list(r["mc1_targets"].values())},
         "mc2_targets": {"choices": list(r["mc2_targets"]), "labels": list(r["mc2_targets"].values())}}
        for r in tq])
    with data_path("ko_mc/kobest/COPA/test.tsv").open(encoding="utf-8", newline="") as f:
        write_jsonl(d / "kobest_copa.jsonl", [
            {"premise": r["sentence"], "question": r["question"], "alternative_1": r["1"], "alternative_2": r["2"],
             "label": int(r["Answer"]) - 1}
            for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)])


def run_inhouse(model_path: Path, sha: str, tasks: list[str], limit: int, threads: int | None, work: Path) -> dict:
    from inhouse.evals.scorer import LlamaScorer

    t0 = time.perf_counter()
    scorer = LlamaScorer(model_path, n_ctx=2048, n_threads=threads)
    load_s = time.perf_counter() - t0
    store = EvalStore(work / "inhouse-fresh.db")  # empty: nothing comes from a cache
    out: dict = {"load_seconds": load_s, "tasks": {}}
    for name in tasks:
        spec = get_spec(name)
        docs, fs = load_task(spec)
        items = build_items(spec, docs, limit, fs)
        t = time.perf_counter()
        raw = score_items(spec, items, sha, lambda: scorer, store, {"bench": True})
        out["tasks"][name] = {"scores": task_scores(spec, items, raw), "lls": [r["lls"] for r in raw],
                              "seconds": time.perf_counter() - t}
    store.close()
    out["seconds"] = time.perf_counter() - t0
    return out


def run_lmeval(model_path: Path, tasks: list[str], limit: int, batch_size: int, work: Path) -> dict:
    gdir = work / "gguf"
    gdir.mkdir(exist_ok=True)
    link = gdir / model_path.name
    if not link.exists():
        link.symlink_to(model_path)
    outdir = work / "lmeval-out"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
           f"pretrained={gdir},gguf_file={model_path.name},dtype=float32", "--device", "cpu",
           "--batch_size", str(batch_size), "--tasks", ",".join(TASKS[t][0] for t in tasks),
           "--include_path", str(ROOT / "bench" / "lmeval_tasks"), "--limit", str(limit),
           "--output_path", str(outdir), "--log_samples"]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"lm-eval failed (exit {proc.returncode})")
    result_file = max(glob.glob(str(outdir / "**" / "results_*.json"), recursive=True), key=os.path.getmtime)
    results = json.loads(Path(result_file).read_text("utf-8"))
    out: dict = {"seconds": seconds, "tasks": {}, "command": " ".join(cmd),
                 "eval_seconds": float(results.get("total_evaluation_time_seconds") or seconds)}
    for t in tasks:
        lm_task = TASKS[t][0]
        sample_file = max(glob.glob(str(outdir / "**" / f"samples_{lm_task}_*.jsonl"), recursive=True),
                          key=os.path.getmtime)
        samples = [json.loads(line) for line in Path(sample_file).read_text("utf-8").splitlines() if line.strip()]
        samples.sort(key=lambda s: s["doc_id"])
        lls = [[float(r[0][0]) if isinstance(r[0], list) else float(r[0]) for r in s["resps"]] for s in samples]
        out["tasks"][t] = {"results": results["results"][lm_task], "lls": lls}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--limit", type=int, default=50, help="first N items of every task (full run: 1000+)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    name, path, sha = resolve_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="inhouse-agree-"))
    convert_data(work)
    console.print(f"model {name} ({path.name}), first {args.limit} items of {', '.join(tasks)}; work dir {work}")
    ih = run_inhouse(path, sha, tasks, args.limit, args.threads, work)
    console.print(f"InHouse done in {ih['seconds']:.1f} s")
    lm = run_lmeval(path, tasks, args.limit, args.batch_size, work)
    console.print(f"lm-eval done in {lm['seconds']:.1f} s")

    table = Table(title=f"InHouse vs lm-eval {args.limit} items/task, {name}")
    for col in ("task", "metric", "n", "InHouse", "lm-eval", "Δ points", "target", "same answer", "mean |Δll|"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    report: dict = {"model": name, "file_sha256": sha, "limit": args.limit, "tasks": {},
                    "inhouse_seconds": ih["seconds"], "lmeval_seconds": lm["seconds"],
                    "speedup": lm["seconds"] / ih["seconds"], "lmeval_command": lm["command"],
                    "lmeval_eval_seconds": lm["eval_seconds"], "inhouse_load_seconds": ih["load_seconds"],
                    "partial_run": args.limit < 1000}
    for t in tasks:
        a, b = ih["tasks"][t], lm["tasks"][t]
        n = len(a["lls"])
        same = sum(int(np.argmax(x) == np.argmax(y)) for x, y in zip(a["lls"], b["lls"], strict=True))
        dll = float(np.mean([abs(p - q) for x, y in zip(a["lls"], b["lls"], strict=True)
                             for p, q in zip(x, y, strict=True)]))
        report["tasks"][t] = {"n": n, "same_argmax": same, "mean_abs_dll": dll, "metrics": {},
                              "inhouse_seconds": a["seconds"]}
        for m_ih, m_lm in TASKS[t][1].items():
            v_ih = a["scores"][m_ih]
            v_lm = b["results"][f"{m_lm},none"]
            diff = 100 * (v_ih - v_lm)
            report["tasks"][t]["metrics"][m_ih] = {"inhouse": v_ih, "lmeval": v_lm, "diff_points": diff}
            table.add_row(t, m_ih, str(n), f"{100 * v_ih:.2f}", f"{100 * v_lm:.2f}", f"{diff:+.2f}",
                          f"≤{TARGET_POINTS[t]}", f"{same}/{n}", f"{dll:.3f}")
    console.print(table)
    console.print(f"wall time: InHouse {ih['seconds']:.1f} s (model load {ih['load_seconds']:.1f} s), "
                  f"lm-eval hf {lm['seconds']:.1f} s (its own evaluation timer: {lm['eval_seconds']:.1f} s) -> "
                  f"InHouse {report['speedup']:.1f}x faster")
    atomic_write_json(RESULTS, report, indent=2)
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
