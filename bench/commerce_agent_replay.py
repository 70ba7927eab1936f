"""The agent's rules on recorded model outputs: pass^k and wrong writes of this checkout's rules, without the model.

The ticket agent's model fills forms (identity, requests, an option now and then); everything after them, the
`Evidence` checks and the plan of desk calls, is deterministic. A rule that changes no prompt can therefore be
measured on the forms a model already filled: `bench/commerce_agent.py` keeps each run's form replies in its
checkpoint (older checkpoints kept the requests form only), and this script feeds them back, in order, to this
checkout's agent. Replaying the checkout that made a checkpoint reproduces every recorded result (checked: the
script says how many rows match); replaying newer rules gives their result on the same model outputs, paired.
An option form the recorded run never filled (the new rules asked about another item) cannot be replayed: such
rows are counted and left out.

    python bench/commerce_agent_replay.py CHECKPOINT.jsonl [--lang ko] [--out bench/results/….json]

Prints pass^k and wrong writes, and the rows whose outcome differs from the recorded one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from math import comb
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
TAU = DATA / "commerce" / "tau_retail"
KO = ROOT / "bench" / "data" / "commerce"

from commerce_agent import gold_state, normal  # noqa: E402

from inhouse.apps.commerce.agent import TicketAgent, always_yes  # noqa: E402
from inhouse.apps.commerce.desk import Desk  # noqa: E402
from inhouse.apps.commerce.orders import OrderDB  # noqa: E402
from inhouse.apps.commerce.tau import load_shop, load_tasks  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.chat import Reply  # noqa: E402


class Unreplayable(Exception):
    """The rules asked for a form the recorded run never filled."""


class Recorded:
    """A model that answers each form with what the recorded run's model wrote for it."""

    supports_json_schema = True
    name = "recorded"

    def __init__(self, row: dict, user: dict, ticket: str) -> None:
        self.forms = [tuple(f) for f in row["forms"]] if isinstance(row.get("forms"), list) else None
        self.row, self.user, self.ticket = row, user, ticket

    def complete(self, messages, max_tokens=0, temperature=0.0, json_schema=None, **kw):  # noqa: ANN001, ANN003
        prompt = messages[-1]["content"]
        kind = ("identity" if "identifies themselves" in prompt else
                "requests" if 'write in "wants"' in prompt else "option")
        if self.forms is not None:
            if not self.forms or self.forms[0][0] != kind:
                raise Unreplayable(kind)
            return Reply(self.forms.pop(0)[1], 1, (), "stop")
        if kind == "identity":  # older checkpoints: the identity the ticket gives (every recorded run found it)
            u = self.user
            by_email = u["email"].casefold() in self.ticket.casefold()
            text = json.dumps({"email": u["email"] if by_email else "",
                               "first_name": "" if by_email else u["name"]["first_name"],
                               "last_name": "" if by_email else u["name"]["last_name"],
                               "zip": "" if by_email else u["address"]["zip"]})
            return Reply(text, 1, (), "stop")
        if kind == "requests":
            return Reply(json.dumps({"wants": "", "requests": self.row["requests"] or [{"action": "nothing"}]}), 1,
                         (), "stop")
        raise Unreplayable(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--split", default=None, help="train or dev (default: from the checkpoint's name)")
    ap.add_argument("--lang", default="en", choices=("en", "ko"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    split = args.split or args.checkpoint.name.split("_")[0]
    users, orders, products = load_shop(TAU)
    template = OrderDB(":memory:")
    template.load(users, orders, products)
    tickets = {t.index: t.instruction for t in load_tasks(TAU, split)}
    if args.lang == "ko":
        template.load_names(json.loads((KO / "tau_catalog_ko.json").read_text("utf-8")), "ko")
        tickets = {r["task"]: r["ko"] for r in map(json.loads, (KO / "tickets_ko.jsonl").read_text("utf-8")
                                                   .splitlines()) if r["split"] == split}
    tasks = {t.index: t for t in load_tasks(TAU, split)}
    rows = [json.loads(line) for line in args.checkpoint.read_text("utf-8").splitlines()]
    results, skipped, same = {}, 0, 0
    for r in rows:
        task = tasks[r["task"]]
        gold_export, gold_writes = gold_state(template, task)
        desk = Desk(template.copy(), confirm=always_yes)
        try:
            TicketAgent(Recorded(r, users[task.user_id], tickets[task.index])).handle(tickets[task.index], desk)
        except Unreplayable:
            skipped += 1
            continue
        done = [normal(n, a) for n, a, _ in desk.writes]
        wrong = [w for w in done if w not in gold_writes]
        passed = desk.db.export() == gold_export
        results[(r["task"], r.get("trial", 0))] = (passed, len(done), len(wrong))
        if (passed, len(wrong)) == (r["passed"], r["wrong_writes"]):
            same += 1
        else:
            print(f"task {r['task']} trial {r.get('trial', 0)}: recorded passed={r['passed']} wrong="
                  f"{r['wrong_writes']} → replayed passed={passed} wrong={len(wrong)}")
    trials = max(k for _, k in results) + 1 if results else 0
    by_task: dict[int, list[bool]] = {}
    for (t, _), (p, _, _) in results.items():
        by_task.setdefault(t, []).append(p)
    complete = {t: v for t, v in by_task.items() if len(v) == trials}
    pass_k = {f"pass^{k}": round(sum(comb(sum(v), k) / comb(trials, k) for v in complete.values())
                                 / len(complete), 3) for k in range(1, trials + 1)} if complete else {}
    summary = {"checkpoint": args.checkpoint.name, "lang": args.lang, "rows": len(rows), "replayed": len(results),
               "unreplayable": skipped, "same_as_recorded": same, "tasks": len(complete), "trials": trials,
               **pass_k, "writes": sum(w for _, w, _ in results.values()),
               "wrong_writes": sum(x for _, _, x in results.values())}
    summary["wrong_write_rate"] = round(summary["wrong_writes"] / summary["writes"], 3) if summary["writes"] else 0.0
    print(json.dumps(summary, indent=1))
    if args.out:
        atomic_write_json(args.out, summary)


if __name__ == "__main__":
    main()
