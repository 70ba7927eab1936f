"""`inhouse eval …`: leaderboard benchmarks on local models (run, board, tasks, rag)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import click
from rich.table import Table

from inhouse.cli.common import emit_json, err, out, principal_options, progress_bar, split_groups
from inhouse.errors import InputError, NotFoundError
from inhouse.types import Principal


def _json(f):
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")(f)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


@click.group("eval")
def eval_group() -> None:
    """Evaluate local models on leaderboard tasks (lm-evaluation-harness compatible scoring)."""


@eval_group.command("run")
@click.option("--model", required=True, help="registered model name, packaged eval model or path to a .gguf")
@click.option("--adapter", default=None,
              help="registered LoRA adapter trained on MODEL: scores the adapted model (named MODEL+ADAPTER)")
@click.option("--tasks", default="", help="comma-separated task names (see `inhouse eval tasks`)")
@click.option("--limit", type=int, default=None, help="only the first N items of each task, in file order")
@click.option("--preset", default=None, help="task set with fixed shots: open_llm_v1")
@click.option("--shots", type=int, default=None, help="few-shot examples for every task (overrides the task)")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="evaluation data directory (default $INHOUSE_EVAL_DATA or ../shared/data)")
@click.option("--n-ctx", type=int, default=4096, show_default=True, help="llama.cpp context window")
@click.option("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
@click.option("--no-record", is_flag=True, help="do not add the scores to the leaderboard")
@_json
def run_cmd(model: str, adapter: str | None, tasks: str, limit: int | None, preset: str | None, shots: int | None,
            data: Path | None, n_ctx: int, threads: int | None, no_record: bool, as_json: bool) -> None:
    """Score MODEL on tasks; resumes from the per-item cache after an interruption. Only an explicit
    --adapter applies: the adapter settings do not change what a benchmark measures."""
    from inhouse.evals import run_eval

    names = list(split_groups(tasks))
    shot_map = {t: shots for t in names} if shots is not None else None
    if shots is not None and not names:
        raise InputError("--shots needs --tasks (a preset fixes its own shots).")
    with progress_bar(not as_json) as update:
        result = run_eval(model, names, limit=limit, preset=preset, shots=shot_map, data=data, n_ctx=n_ctx,
                          n_threads=threads, record=not no_record, progress=update, adapter=adapter)
    if as_json:
        emit_json(result)
        return
    adapted = f" + adapter {result['adapter_sha256'][:12]}" if result.get("adapter_sha256") else ""
    table = Table(title=f"{result['model']} ({result['file_sha256'][:12]}{adapted})")
    for col in ("task", "shots", "n", "metric", "score", "± stderr", "seconds"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for task, scores in result["results"].items():
        st = result["settings"][task]
        for m, v in scores.items():
            if m == "n" or m.endswith("_stderr"):
                continue
            se = scores.get(f"{m}_stderr")
            table.add_row(task, str(st["fewshot"]), str(scores["n"]), m + (" *" if m == st["primary"] else ""),
                          _pct(v), _pct(se), f"{result['seconds'][task]:.1f}")
    out.print(table)
    err.print("scores in %; * = the leaderboard's metric for the task")


@eval_group.command("rag")
@click.option("--model", default=None, help="registered model (default: the default model)")
@click.option("--adapter", default=None,
              help="registered LoRA adapter ('' for none; default: the tenant's from tenant_adapters, else the "
                   "adapter setting)")
@click.option("--set", "qset", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSONL question set: {"question": …, "answers": [gold strings]} a line ([] = unanswerable)')
@principal_options
@click.option("--limit", type=int, default=None, help="only the first N questions")
@click.option("--halueval", type=int, default=500, show_default=True,
              help="HaluEval QA items for the verifier's balanced accuracy (0 = skip)")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="evaluation data directory for HaluEval (default $INHOUSE_EVAL_DATA or ../shared/data)")
@click.option("--no-record", is_flag=True, help="do not add the scores to the leaderboard")
@_json
def rag_cmd(model: str | None, adapter: str | None, qset: Path, principal: Principal, limit: int | None,
            halueval: int, data: Path | None, no_record: bool, as_json: bool) -> None:
    """Grounded-QA scores of MODEL over the knowledge base in INHOUSE_HOME, asked as the given principal (with
    the adapter that principal's questions get, unless --adapter says otherwise)."""
    import uuid

    from inhouse.config import load_settings
    from inhouse.evals import EvalStore
    from inhouse.evals.adapters import data_dir
    from inhouse.evals.rag import VERSION, read_rag_set, run_rag, verifier_balanced_accuracy
    from inhouse.evals.runner import ALIASES, _quant_from_name
    from inhouse.models.embedders import load_embedder
    from inhouse.models.registry import Registry
    from inhouse.store import open_store

    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1.")
    items = read_rag_set(qset)[:limit]
    settings = load_settings()
    choice = Registry().choose(settings, ALIASES.get(model, model) if model else None, adapter, principal.tenant)
    name, path, sha = choice.name, choice.path, choice.sha256
    adapted = {"adapter": choice.adapter, "adapter_sha256": choice.adapter_sha256} if choice.adapter else {}
    store = open_store()
    try:
        chat = choice.chat(settings)
        with progress_bar(not as_json) as update:
            result = run_rag(store, principal, items, settings, chat, load_embedder(settings.embedder),
                             progress=update)
    finally:
        store.close()
    verifier = verifier_balanced_accuracy(data or data_dir(), halueval, 0.6) if halueval else None
    task = f"rag:{qset.stem}"
    scores = dict(result["scores"])
    if not no_record:
        board = EvalStore()
        try:
            run_id = uuid.uuid4().hex[:12]
            board.record(run_id, name, sha, _quant_from_name(path), task, VERSION,
                         {k: v for k, v in scores.items() if v is not None}, result["n"], "answer_recall",
                         {"set": str(qset), "tenant": principal.tenant, "groups": list(principal.groups),
                          "limit": limit, **({"adapter_sha256": choice.adapter_sha256} if choice.adapter else {})})
            if verifier:
                board.record(run_id, name, sha, _quant_from_name(path), "verifier_halueval", VERSION,
                             {"balanced_accuracy": verifier["verifier_halueval"]}, verifier["n"],
                             "balanced_accuracy", {"threshold": 0.6})
        finally:
            board.close()
    payload = {"model": name, "file_sha256": sha, **adapted, "task": task,
               "results": {task: {**scores, "n": result["n"]}},
               "n_answerable": result["n_answerable"], "n_unanswerable": result["n_unanswerable"],
               "seconds_p50": result["seconds_p50"], "rows": result["rows"]}
    if verifier:
        payload["results"]["verifier_halueval"] = {"balanced_accuracy": verifier["verifier_halueval"],
                                                   "n": verifier["n"]}
    if as_json:
        emit_json(payload)
        return
    table = Table(title=f"{name}: {task} ({result['n_answerable']} answerable, {result['n_unanswerable']} "
                        f"unanswerable; p50 {result['seconds_p50']:.1f} s a question)")
    for col in ("metric", "score", "± stderr"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for m in ("answer_recall", "abstention_answerable", "abstention_unanswerable", "claims_rejected"):
        table.add_row(m, _pct(scores[m]), _pct(scores[f"{m}_stderr"]))
    if verifier:
        table.add_row(f"verifier_halueval (n={verifier['n']})", _pct(verifier["verifier_halueval"]), "")
    out.print(table)
    err.print("scores in %; abstention_answerable and claims_rejected: lower is better")


@eval_group.command("board")
@_json
@click.option("--csv", "as_csv", is_flag=True, help="print CSV (one row per model and task)")
def board_cmd(as_json: bool, as_csv: bool) -> None:
    """The leaderboard: each model's latest score per task, Open LLM v1 and Korean averages."""
    from inhouse.evals import EvalStore
    from inhouse.evals.store import primary_score

    store = EvalStore()
    try:
        rows = store.board()
    finally:
        store.close()
    if as_json:
        emit_json({"models": rows})
        return
    if as_csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["model", "file_sha256", "quantisation", "task", "version", "shots", "n", "metric", "value",
                    "stderr", "open_llm_v1", "korean", "date", "adapter_sha256"])
        for m in rows:
            for task, t in sorted(m["tasks"].items()):
                for metric, s in t["metrics"].items():
                    w.writerow([m["model"], m["file_sha256"], m["quantisation"], task, t["version"], t["shots"],
                                t["n"], metric, s["value"], s["stderr"], m["open_llm_v1"], m["korean"], m["date"],
                                m.get("adapter_sha256") or ""])
        sys.stdout.write(buf.getvalue())
        return
    if not rows:
        out.print("no results yet; run `inhouse eval run --model NAME --tasks arc_easy`.")
        return
    tasks = sorted({t for m in rows for t in m["tasks"]})
    table = Table(title="InHouse leaderboard (primary metric, %)")
    for col in ("model", "quant", "Open LLM v1", "Korean", *tasks):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m in rows:
        cells = []
        for t in tasks:
            tr = m["tasks"].get(t)
            if tr is None:
                cells.append("")
                continue
            s = primary_score(tr)[1]
            cells.append(f"{_pct(s['value'])}±{_pct(s['stderr'])}" if s["stderr"] else _pct(s["value"]))
        table.add_row(m["model"], m["quantisation"], _pct(m["open_llm_v1"]),
                      f"{_pct(m['korean'])} ({m['korean_n_tasks']}/5)" if m["korean"] is not None else "—", *cells)
    out.print(table)
    err.print("Open LLM v1 needs arc_challenge 25-shot, hellaswag 10-shot, truthfulqa_mc2 0-shot, mmlu 5-shot "
              "(`--preset open_llm_v1`); Korean averages the KoBEST tasks present.")


@eval_group.command("tasks")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="evaluation data directory (default $INHOUSE_EVAL_DATA or ../shared/data)")
@_json
def tasks_cmd(data: Path | None, as_json: bool) -> None:
    """Available tasks, their versions, and whether their data is found."""
    from inhouse.evals import all_specs
    from inhouse.evals.adapters import data_dir, read_records

    base = data or data_dir()
    rows = []
    for spec in all_specs().values():
        try:
            n = len(read_records(spec.data_file, spec.data_format, base))
            found, note = True, f"{n} records"
        except (NotFoundError, InputError) as e:
            found, note = False, str(e)
        rows.append({"task": spec.name, "version": spec.version, "group": spec.group, "language": spec.language,
                     "output": spec.output, "shots": spec.fewshot.count, "metrics": [m.name for m in spec.metrics],
                     "primary": spec.primary, "data": str(base / spec.data_file), "found": found, "note": note,
                     "about": spec.description_text})
    if as_json:
        emit_json({"data_dir": str(base), "tasks": rows})
        return
    table = Table(title=f"Evaluation tasks (data: {base})")
    for col in ("task", "v", "group", "lang", "shots", "metrics", "data"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["task"], str(r["version"]), r["group"], r["language"], str(r["shots"]),
                      ", ".join(r["metrics"]), f"[green]{r['note']}[/]" if r["found"] else "[red]missing[/]")
    out.print(table)
