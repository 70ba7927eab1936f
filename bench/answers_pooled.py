"""Every recorded sample of bench/answers.py, replayed with the current pipeline and pooled.

One sample is 50 questions a language and condition, so one row decides a target by 0.02 and two seeds
differ by up to 0.08 on every figure. This bench re-verifies the drafts recorded by the fresh runs in
RECORDED (`bench/answers.py --replay`: retrieval, the gate, the verifier, the fallback; no generation) and
pools them: 650 Korean and 490 English questions a condition. It also says where each answerable abstention comes
from: a right draft that the pipeline refused, a wrong draft with the gold answer in the sources the model
was shown, or sources without the gold answer. Run it after a change to the verifier or the gate; a change
to the prompt or to sentence selection needs fresh runs (the drafts would no longer be the model's): a row
whose sources differ from those its draft was written from is stale, counted and left out of the rates, or,
with `-- --regenerate-stale`, drafted again by the demo model (what a fresh run would write: greedy decoding).

    python bench/answers_pooled.py [--cache DIR] [--out bench/results/answers_pooled.json] [-- EXTRA ANSWERS ARGS]

The pooled figures are for the recorded drafts, most of them read while the rules were written
(`bench/answers.py`: DEV_SEEDS, READ_SEEDS): held-out figures come from fresh seeds only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.files import atomic_write_json  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
_spec = importlib.util.spec_from_file_location("bench_answers", ROOT / "bench" / "answers.py")
answers = importlib.util.module_from_spec(_spec)
sys.modules["bench_answers"] = answers  # its dataclasses look their module up
_spec.loader.exec_module(answers)

# The fresh runs whose drafts are replayed: seed → (results file, prompted with the worked examples, the
# languages it asked: XQuAD-en had no unused question left for seeds 19 to 21).
RECORDED = {
    7: ("answers_seed7_examples.json", True, "ko,en"),
    10: ("answers_seed10_examples.json", True, "ko,en"),
    11: ("answers_heldout_seed11.json", False, "ko,en"),
    12: ("answers_heldout_seed12.json", True, "ko,en"),
    13: ("answers_heldout_seed13.json", True, "ko,en"),
    14: ("answers_heldout_seed14.json", True, "ko,en"),
    15: ("answers_heldout_seed15.json", True, "ko,en"),
    16: ("answers_heldout_seed16.json", True, "ko,en"),
    17: ("answers_heldout_seed17.json", True, "ko,en"),
    18: ("answers_heldout_seed18.json", True, "ko,en"),
    19: ("answers_heldout_seed19.json", True, "ko"),
    20: ("answers_heldout_seed20.json", True, "ko"),
    21: ("answers_heldout_seed21.json", True, "ko"),
}
CONDITIONS = ("answerable", "gold_removed")
console = Console()


def source_of_abstention(row: dict) -> str:
    """Why an answerable question was refused: the model's draft was right, wrong with the gold shown, or
    the model was not shown the gold."""
    if row["raw_found"]:
        return "right_draft_refused"
    return "wrong_draft_gold_shown" if row["gold_in_sources"] else "gold_not_shown"


def pool(per_seed: dict[int, dict]) -> dict:
    """Pooled rates a language and condition, with the answerable abstentions' sources. A stale row (shown
    other sentences than its draft was written from: retrieval or sentence selection changed since the run)
    is counted apart and left out of the rates. Each language is pooled over the samples that asked it."""
    out: dict = {}
    for lang in [x for x in ("ko", "en") if any(x in res["items"] for res in per_seed.values())]:
        out[lang] = {}
        for cond in CONDITIONS:
            every = [r for res in per_seed.values() if lang in res["items"] for r in res["items"][lang][cond]]
            rows = [r for r in every if not r.get("stale")]
            n = len(rows)
            entry = {"n": n, "stale": len(every) - n, "regenerated": sum(bool(r.get("regenerated")) for r in rows),
                     "answer_recall": round(sum(r["found"] for r in rows) / n, 3),
                     "raw_answer_recall": round(sum(r["raw_found"] for r in rows) / n, 3),
                     "abstention": round(sum(r["abstained"] for r in rows) / n, 3),
                     "gold_in_sources": round(sum(bool(r["gold_in_sources"]) for r in rows) / n, 3)}
            if cond == "answerable":
                sources: dict[str, int] = {}
                for r in rows:
                    if r["abstained"]:
                        k = source_of_abstention(r)
                        sources[k] = sources.get(k, 0) + 1
                entry["abstentions_by_source"] = sources
                entry["wrong_answers"] = sum(not r["found"] and not r["abstained"] for r in rows)
            out[lang][cond] = entry
    return out


def replayed_samples(extra: list[str]) -> tuple[dict[int, tuple[str, bool, str]], list[str]]:
    """RECORDED with each sample's languages cut to those of `-- --langs` (samples left with none dropped), and
    the other bench/answers.py arguments."""
    extra, asked = list(extra), ("ko", "en")
    if "--langs" in extra:
        i = extra.index("--langs")
        asked = tuple(extra[i + 1].split(",")) if i + 1 < len(extra) else ()
        del extra[i:i + 2]
    samples = {seed: (name, examples, ",".join(x for x in langs.split(",") if x in asked))
               for seed, (name, examples, langs) in RECORDED.items()}
    return {seed: r for seed, r in samples.items() if r[2]}, extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache" / "retrieval")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answers_pooled.json")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".cache" / "pooled",
                    help="where each seed's replay is written")
    ap.add_argument("extra", nargs="*", help="more bench/answers.py arguments, after --")
    args = ap.parse_args()
    samples, extra = replayed_samples(args.extra)
    if not samples:
        sys.exit("error: no recorded sample asked the languages of --langs; use --langs ko, en or ko,en.")
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    per_seed: dict[int, dict] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying recorded samples", total=len(samples))
        for seed, (name, examples, langs) in samples.items():
            recorded = ROOT / "bench" / "results" / name
            out = args.work / f"seed{seed}.json"
            cmd = [sys.executable, str(ROOT / "bench" / "answers.py"), "--seed", str(seed), "--replay", str(recorded),
                   "--out", str(out), "--speed-n", "0", "--cache", str(args.cache), "--langs", langs, *extra]
            if examples:
                cmd.append("--worked-examples")
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"error: replaying seed {seed} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
            per_seed[seed] = json.loads(out.read_text("utf-8"))
            progress.advance(task)
    pooled = pool(per_seed)
    table = Table(title=f"Recorded drafts of seeds {', '.join(map(str, samples))}, replayed and pooled")
    for col in ("lang", "condition", "n", "stale", "redrafted", "recall raw", "recall", "abstain", "gold shown",
                "abstained: R / W / G"):
        table.add_column(col, no_wrap=True)
    for lang, conds in pooled.items():
        for cond, e in conds.items():
            src = e.get("abstentions_by_source")
            table.add_row(lang, cond, str(e["n"]), str(e["stale"]), str(e["regenerated"]),
                          f"{e['raw_answer_recall']:.3f}", f"{e['answer_recall']:.3f}", f"{e['abstention']:.3f}",
                          f"{e['gold_in_sources']:.3f}",
                          "" if src is None else " / ".join(str(src.get(k, 0)) for k in
                                                            ("right_draft_refused", "wrong_draft_gold_shown",
                                                             "gold_not_shown")))
    console.print(table)
    console.print("abstained (answerable): R = the model's draft was right, W = wrong with the gold shown to it, "
                  "G = the gold was not in the sources it was shown; stale: rows left out, whose sources changed "
                  "since their draft was recorded (a fresh run measures them); redrafted: such rows drafted again "
                  "by the demo model (-- --regenerate-stale)")
    targets = {}
    for lang, conds in pooled.items():
        targets |= answers.quality_targets(lang, conds["answerable"], conds["gold_removed"])
    for k, ok in targets.items():
        console.print(f"{'PASS' if ok else 'FAIL'} {k} (pooled replay)")
    result = {"bench": "answers_pooled", "date": time.strftime("%Y-%m-%d"), "seeds": list(samples),
              "extra_args": args.extra, "pooled": pooled, "targets": targets,
              "per_seed": {s: {lang: {c: {k: v for k, v in res["languages"][lang][c].items() if k in
                                          ("n", "answer_recall", "abstention", "raw_answer_recall")}
                                      for c in CONDITIONS} for lang in pooled if lang in res["languages"]}
                           for s, res in per_seed.items()},
              "wall_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(args.out, result, indent=2)
    console.print(f"wall time {result['wall_s']} s → {args.out}")


if __name__ == "__main__":
    main()
