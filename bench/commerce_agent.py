"""The delivery/return agent on τ-bench retail in ticket mode: pass^1, pass^k and wrong database writes.

Ticket mode: each task's instruction (τ-bench's brief to its simulated user, in the second person: "Your name is
… you want to exchange …") is the customer's one message, verbatim. There is no conversation: the agent cannot
ask back, and the customer confirms every write it proposes (the ticket is the consent). So this measures
reading a request and acting on the right records, not dialogue; τ-bench's published scores (GPT-4o pass^1
about 0.60 on retail) come from multi-turn conversations with a simulated user and are not comparable.

A task passes when the shop ends in exactly the state the task's gold actions leave (τ-bench's reward: the
database compared whole; no retail task asks for an answer text). A write is wrong when the agent committed a
write that is not one of the gold writes (same tool, same arguments, item lists compared as multisets).
pass^k (τ-bench's estimator): for each task with c passes in n trials, C(c, k) / C(n, k), averaged.

Korean (`--lang ko`): the customer's message is a hand translation of the task's instruction
(bench/data/commerce/tickets_ko.jsonl: train 40–79, product names and option values as the shop's Korean catalog
shows them, bench/data/commerce/tau_catalog_ko.json, which the shop's order database also holds as its Korean
names). The gold actions and the database are the same.

Policy citations: the shop's knowledge base holds τ-bench's policy and its Korean translation; each reply line
cites a passage (`inhouse.apps.commerce.agent.cite`), counted right when it lies in the section that governs the
line's action, in the ticket's language (bench/commerce_policy.py measures the lookup alone on every gold action).

Each model runs the same tasks: the default model and the packaged 0.5B as the baseline (`--models`). The first
trial is greedy; later trials sample at `--temperature`. Every finished (model, task, trial) is appended to a
JSONL checkpoint under bench/.cache (named by the agent code's hash): an interrupted run resumes where it stopped.

    python bench/commerce_agent.py [--split dev] [--start 0] [--limit 20] [--trials 1] [--lang en|ko]
                                   [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b]

Writes bench/results/commerce_agent.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from math import comb
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
TAU = DATA / "commerce" / "tau_retail"
KO = ROOT / "bench" / "data" / "commerce"

from commerce_policy import GOVERNS, POLICY_KO  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.commerce.agent import TicketAgent, always_yes, policy_lookup  # noqa: E402
from inhouse.apps.commerce.desk import WRITES, Desk  # noqa: E402
from inhouse.apps.commerce.orders import OrderDB  # noqa: E402
from inhouse.apps.commerce.tau import load_shop, load_tasks  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.ingest.pipeline import embed_pending, ingest  # noqa: E402
from inhouse.models.chat import LlamaCppChat  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402
from inhouse.store.sqlite import SQLiteStore  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "commerce_agent"
console = Console(width=160)


def normal(name: str, args: dict) -> str:
    """A write as a comparable key: item lists as sorted multisets."""
    return json.dumps([name, {k: sorted(v) if isinstance(v, list) else v for k, v in args.items()}], sort_keys=True)


def gold_state(template: OrderDB, task) -> tuple[dict, list[str]]:  # noqa: ANN001
    db = template.copy()
    writes = []
    for a in task.actions:
        if a.name in WRITES:
            db.write(a.name, a.kwargs)
            writes.append(normal(a.name, a.kwargs))
    return db.export(), writes


def code_version() -> str:
    """A hash of the agent's code: rows checkpointed by other code are not reused."""
    import hashlib

    import inhouse.apps.commerce as pkg

    h = hashlib.sha256()
    for name in ("agent.py", "desk.py", "orders.py", "tau.py"):
        h.update((Path(pkg.__file__).parent / name).read_bytes())
    return h.hexdigest()[:10]


def pass_hat_k(passes: list[int], n: int, k: int) -> float:
    return sum(comb(c, k) / comb(n, k) for c in passes) / len(passes)


def run_one(agent: TicketAgent, template: OrderDB, task, ticket: str, gold: tuple[dict, list[str]],  # noqa: ANN001
            temperature: float, lang: str) -> dict:
    desk = Desk(template.copy(), confirm=always_yes, session=f"task-{task.index}")
    out = agent.handle(ticket, desk, temperature=temperature)
    cited = {c.n: c for c in out.citations}
    lines = [{"status": ln.status, "tool": ln.tool, "cited": cited[ln.cite].heading if ln.cite else "",
              "right": bool(ln.cite) and cited[ln.cite].heading.split(" › ")[-1] == GOVERNS[lang][ln.tool]}
             for ln in out.lines if ln.tool]
    state, gold_writes = gold
    done = [normal(name, args) for name, args, _ in desk.writes]
    wrong = [w for w in done if w not in gold_writes]
    return {"task": task.index, "passed": desk.db.export() == state, "writes": len(done), "wrong_writes": len(wrong),
            "gold_writes": len(gold_writes), "identified": out.user_id == task.user_id,
            "seconds": out.seconds,
            "reply": out.reply, "requests": out.requests, "wrong": wrong, "lines": lines,
            "forms": [[s.name, s.result] for s in out.steps if s.kind == "form"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="dev", choices=("dev", "train"))
    ap.add_argument("--start", type=int, default=0, help="index of the first task")
    ap.add_argument("--limit", type=int, default=20, help="how many tasks from --start")
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=0.7, help="for trials after the first")
    ap.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--lang", default="en", choices=("en", "ko"), help="ko: the hand-translated Korean tickets")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "commerce_agent.json"))
    args = ap.parse_args()
    if not TAU.is_dir():
        sys.exit(f"τ-bench retail not found at {TAU}; set INHOUSE_DATA to the folder that holds commerce/tau_retail.")

    template = OrderDB(":memory:")
    template.load(*load_shop(TAU))
    tasks = load_tasks(TAU, args.split)[args.start: args.start + args.limit]
    tickets = {t.index: t.instruction for t in tasks}
    if args.lang == "ko":
        template.load_names(json.loads((KO / "tau_catalog_ko.json").read_text("utf-8")), "ko")
        rows = [json.loads(line) for line in (KO / "tickets_ko.jsonl").read_text("utf-8").splitlines()]
        korean = {r["task"]: r["ko"] for r in rows if r["split"] == args.split}
        tasks = [t for t in tasks if t.index in korean]
        if not tasks:
            sys.exit(f"no Korean tickets for {args.split} {args.start}–{args.start + args.limit - 1}; "
                     f"{KO / 'tickets_ko.jsonl'} has train {min(korean, default=0)}–{max(korean, default=0)}.")
        tickets = {t.index: korean[t.index] for t in tasks}
    golds = {t.index: gold_state(template, t) for t in tasks}
    CACHE.mkdir(parents=True, exist_ok=True)
    registry, settings = Registry(), Settings()
    kb_dir = tempfile.TemporaryDirectory()
    kb = SQLiteStore(Path(kb_dir.name) / "kb.db")
    ingest(kb, settings, [TAU / "policy.md", POLICY_KO], "shop")
    embedder = load_embedder("e5-small")
    embed_pending(kb, embedder)
    policy = policy_lookup(kb, "shop", settings, embedder)
    report: dict = {"bench": "commerce_agent", "date": time.strftime("%Y-%m-%d"), "split": args.split,
                    "lang": args.lang, "first_task": args.start, "tasks": len(tasks), "trials": args.trials,
                    "temperature_after_first": args.temperature,
                    "mode": "ticket (instruction verbatim, every proposal confirmed)", "models": {}}
    for model_name in [m for m in args.models.split(",") if m]:
        name, path = registry.resolve(model_name)
        model = LlamaCppChat(path, name=name, n_ctx=max(settings.n_ctx, 6144), n_threads=args.threads)
        agent = TicketAgent(model, policy=policy)
        ckpt = CACHE / f"{args.split}_{args.lang}_{name}_{code_version()}.jsonl"
        rows = {}
        if ckpt.exists():
            for line in ckpt.read_text("utf-8").splitlines():
                r = json.loads(line)
                rows[(r["task"], r["trial"])] = r
        todo = [(t, k) for k in range(args.trials) for t in tasks if (t.index, k) not in rows]
        with Progress(console=console, transient=True) as bar, ckpt.open("a", encoding="utf-8") as f:
            job = bar.add_task(f"{name}: {len(todo)} runs", total=len(todo))
            for task, trial in todo:
                row = run_one(agent, template, task, tickets[task.index], golds[task.index],
                              0.0 if trial == 0 else args.temperature, args.lang)
                row["trial"] = trial
                rows[(task.index, trial)] = row
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                bar.advance(job)
        got = [rows[(t.index, k)] for t in tasks for k in range(args.trials)]
        passes = [sum(rows[(t.index, k)]["passed"] for k in range(args.trials)) for t in tasks]
        writes = sum(r["writes"] for r in got)
        lines = [ln for r in got for ln in r["lines"]]
        summary = {
            "pass^1": round(pass_hat_k(passes, args.trials, 1), 3),
            **{f"pass^{k}": round(pass_hat_k(passes, args.trials, k), 3) for k in range(2, args.trials + 1)},
            "identified": round(sum(r["identified"] for r in got) / len(got), 3),
            "writes": writes, "wrong_writes": sum(r["wrong_writes"] for r in got),
            "wrong_write_rate": round(sum(r["wrong_writes"] for r in got) / writes, 3) if writes else 0.0,
            "gold_writes": sum(r["gold_writes"] for r in got),
            "seconds_per_task": round(sum(r["seconds"] for r in got) / len(got), 1),
            "reply_lines": len(lines),
            "lines_citing_policy": round(sum(bool(ln["cited"]) for ln in lines) / len(lines), 3) if lines else 0.0,
            "citations_right": round(sum(ln["right"] for ln in lines) / len(lines), 3) if lines else 0.0,
            "by_first_gold_write": {},
        }
        by_kind: dict[str, Counter] = {}
        for t in tasks:
            first = next((a.name for a in t.actions if a.name in WRITES), "none")
            c = by_kind.setdefault(first, Counter())
            c["tasks"] += 1
            c["passed"] += rows[(t.index, 0)]["passed"]
        summary["by_first_gold_write"] = {k: dict(v) for k, v in sorted(by_kind.items())}
        report["models"][name] = summary
        del agent, model

    kb.close()
    kb_dir.cleanup()
    span = f"tasks {args.start}–{args.start + len(tasks) - 1}"
    table = Table(title=f"τ-bench retail {args.split} {span} ({args.lang}), ticket mode, {args.trials} trial(s)")
    for col in ("model", *(f"pass^{k}" for k in range(1, args.trials + 1)), "identified", "writes", "wrong writes",
                "policy cited right", "s / task"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, s in report["models"].items():
        table.add_row(name, *(f"{s[f'pass^{k}']:.2f}" for k in range(1, args.trials + 1)), f"{s['identified']:.2f}",
                      str(s["writes"]), f"{s['wrong_writes']} ({s['wrong_write_rate']:.1%})",
                      f"{s['citations_right']:.2f} of {s['reply_lines']}", f"{s['seconds_per_task']:.0f}")
    console.print(table)
    atomic_write_json(Path(args.out), report)
    console.print(f"wrote {Path(args.out).relative_to(ROOT) if Path(args.out).is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
