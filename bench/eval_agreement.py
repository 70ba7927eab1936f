"""Agreement and speed of InHouse's evaluation harness against lm-evaluation-harness, on one GGUF.

Runs, in one go and on the same items (the first N of each file) and settings (0-shot):
  1. InHouse: `inhouse.evals` scoring on llama.cpp (fresh cache, so everything is computed);
  2. lm-eval 0.4.x with its `hf` backend on the same GGUF loaded through transformers (lm-eval's `gguf`
     backend gives wrong scores for Qwen GGUFs, see FINDINGS.md), with the task YAMLs in
     bench/lmeval_tasks/ over the same local data converted to the hub datasets' layout, so that
     lm-eval's own code builds the prompts.
Both sides read one GGUF. By default that is the model dequantised to F32 (llama.cpp's own quantiser,
10 s): transformers always dequantises a GGUF to fp32 weights, so on the Q4 file llama.cpp would compute
with Q4 blocks and torch with their fp32 values, and per-choice log-likelihoods differ by ~0.14 (1 item
in 50 flips). On the F32 file both compute with the same fp32 weights (`--precision native` keeps the
quantised file). It reports per-task scores, their difference in points, per-item agreement of the
chosen answer, the mean |difference| of per-choice log-likelihoods, and the wall time of each side.

    pip install -e '.[evalref]'
    flock /tmp/inhouse-heavy.lock python bench/eval_agreement.py            # hellaswag 1000, others 100
    python bench/eval_agreement.py --limit 20 --task-limit hellaswag=20     # a quick look
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
from inhouse.files import atomic_write_json, sha256_file

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


def run_inhouse(model_path: Path, sha: str, tasks: list[str], limits: dict[str, int], threads: int | None,
                work: Path) -> dict:
    from inhouse.evals.scorer import LlamaScorer

    t0 = time.perf_counter()
    scorer = LlamaScorer(model_path, n_ctx=2048, n_threads=threads)
    load_s = time.perf_counter() - t0
    store = EvalStore(work / "inhouse-fresh.db")  # empty: nothing comes from a cache
    out: dict = {"load_seconds": load_s, "tasks": {}}
    for name in tasks:
        spec = get_spec(name)
        docs, fs = load_task(spec)
        items = build_items(spec, docs, limits[name], fs)
        t = time.perf_counter()
        raw = score_items(spec, items, sha, lambda: scorer, store, {"bench": True})
        out["tasks"][name] = {"scores": task_scores(spec, items, raw), "lls": [r["lls"] for r in raw],
                              "seconds": time.perf_counter() - t}
    store.close()
    out["seconds"] = time.perf_counter() - t0
    return out


def dequantise_f32(model_path: Path, work: Path) -> Path:
    """The model as an F32 GGUF (llama.cpp's quantiser with requantisation allowed: every tensor to fp32)."""
    import ctypes

    import llama_cpp

    out = work / f"{model_path.stem}-f32.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(str(model_path).encode(), str(out).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"could not dequantise {model_path} to F32 (is there room in {work}?)")
    return out


def run_lmeval(model_path: Path, tasks: list[str], limit: int, batch_size: int, work: Path) -> dict:
    """One lm-eval process for `tasks` at `limit` items each (its --limit is one number for all tasks)."""
    gdir = work / "gguf"
    gdir.mkdir(exist_ok=True)
    link = gdir / model_path.name
    if not link.exists():
        link.symlink_to(model_path)
    outdir = work / f"lmeval-out-{limit}"
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
    ap.add_argument("--limit", type=int, default=100, help="first N items of every task not in --task-limit")
    ap.add_argument("--task-limit", action="append", default=[], metavar="TASK=N",
                    help="first N items of TASK (default hellaswag=1000)")
    ap.add_argument("--precision", choices=("f32", "native"), default="f32",
                    help="f32: both sides read the model dequantised to F32 (default); native: the file as it is")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(unknown)}; this bench compares {', '.join(TASKS)}")
    limits = {t: args.limit for t in tasks}
    for spec in args.task_limit or ["hellaswag=1000"]:
        t, _, n = spec.partition("=")
        if t not in TASKS or not n.isdigit():
            raise SystemExit(f"--task-limit {spec!r}: expected TASK=N with TASK one of {', '.join(TASKS)}")
        if t in limits:
            limits[t] = int(n)
    name, source, source_sha = resolve_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="inhouse-agree-"))
    convert_data(work)
    if args.precision == "f32":
        path = dequantise_f32(source, work)
        sha = sha256_file(path)
    else:
        path, sha = source, source_sha
    console.print(f"model {name} ({path.name}); items: "
                  f"{', '.join(f'{t} {limits[t]}' for t in tasks)}; work dir {work}")
    ih = run_inhouse(path, sha, tasks, limits, args.threads, work)
    console.print(f"InHouse done in {ih['seconds']:.1f} s")
    lm: dict = {"seconds": 0.0, "eval_seconds": 0.0, "tasks": {}, "commands": []}
    for limit in sorted(set(limits.values())):
        part = run_lmeval(path, [t for t in tasks if limits[t] == limit], limit, args.batch_size, work)
        lm["seconds"] += part["seconds"]
        lm["eval_seconds"] += part["eval_seconds"]
        lm["tasks"].update(part["tasks"])
        lm["commands"].append(part["command"])
    console.print(f"lm-eval done in {lm['seconds']:.1f} s")
    if args.precision == "f32":
        path.unlink()  # 2.4 GB for the 0.5B; the work dir keeps lm-eval's outputs

    table = Table(title=f"InHouse vs lm-eval, {name} ({args.precision})")
    for col in ("task", "metric", "n", "InHouse", "lm-eval", "Δ points", "target", "same answer", "mean |Δll|"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    report: dict = {"model": name, "source_file": source.name, "source_sha256": source_sha,
                    "precision": args.precision, "file_sha256": sha, "limits": limits, "tasks": {},
                    "inhouse_seconds": ih["seconds"], "lmeval_seconds": lm["seconds"],
                    "speedup": lm["seconds"] / ih["seconds"], "lmeval_commands": lm["commands"],
                    "lmeval_eval_seconds": lm["eval_seconds"], "inhouse_load_seconds": ih["load_seconds"],
                    "partial_run": limits.get("hellaswag", 0) < 1000}
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
