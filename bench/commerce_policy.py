"""Policy citations of the inquiry agent: does each reply line cite the section of the shop's policy that governs
its action? No model is involved: the lines are the ones the agent writes for τ-bench retail's gold actions.

The shop's knowledge base holds its policy in English (τ-bench retail's policy.md, MIT) and in Korean (a hand
translation, bench/data/commerce/tau_policy_ko.md), both readable by customers. For every write and hand-off of the
520 train+dev tasks, the line the agent would reply ("Return items … of order …; refund to …", or its Korean form)
is cited with `inhouse.apps.commerce.agent.cite`, the agent's own function, and the cited passage's section is
compared with the section that governs the tool (cancel → "Cancel pending order", a returned item → "Return
delivered order", a hand-off → the opening rules, …; the Korean headings likewise). Accuracy counts a line right
when the cited passage lies in that section and is in the line's language.

Baselines in the same run: the same lookup over words only (Kiwi BM25) and over e5 vectors only.

    python bench/commerce_policy.py

Writes bench/results/commerce_policy.json and prints a table.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
TAU = DATA / "commerce" / "tau_retail"
POLICY_KO = ROOT / "bench" / "data" / "commerce" / "tau_policy_ko.md"

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.commerce.agent import Line, Outcome, cite, policy_lookup  # noqa: E402
from inhouse.apps.commerce.desk import WRITES, describe  # noqa: E402
from inhouse.apps.commerce.tau import load_tasks  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.ingest.pipeline import embed_pending, ingest  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.retrieve import search  # noqa: E402
from inhouse.store.sqlite import SQLiteStore  # noqa: E402
from inhouse.types import Principal  # noqa: E402

console = Console(width=140)
HANDOFF = "transfer_to_human_agents"
# The section (last heading) that governs each tool, per language.
GOVERNS = {
    "en": {"cancel_pending_order": "Cancel pending order", "modify_pending_order_address": "Modify pending order",
           "modify_pending_order_items": "Modify items", "modify_pending_order_payment": "Modify payment",
           "return_delivered_order_items": "Return delivered order",
           "exchange_delivered_order_items": "Exchange delivered order",
           "modify_user_address": "Retail agent policy", HANDOFF: "Retail agent policy"},
    "ko": {"cancel_pending_order": "대기 중인 주문 취소", "modify_pending_order_address": "대기 중인 주문 변경",
           "modify_pending_order_items": "상품 옵션 변경", "modify_pending_order_payment": "결제 수단 변경",
           "return_delivered_order_items": "배송 완료 주문 반품",
           "exchange_delivered_order_items": "배송 완료 주문 교환",
           "modify_user_address": "리테일 상담원 정책", HANDOFF: "리테일 상담원 정책"},
}
HANDED = {"en": "Handed to a person", "ko": "상담원에게 넘겼습니다"}


def lines_for(lang: str) -> list[Line]:
    out = []
    for split in ("train", "dev"):
        for task in load_tasks(TAU, split):
            for a in task.actions:
                if a.name in WRITES:
                    out.append(Line("done", describe(a.name, a.kwargs, lang), a.name))
                elif a.name == HANDOFF:
                    out.append(Line("done", HANDED[lang], a.name))
    return out


def main() -> None:
    if not TAU.is_dir():
        sys.exit(f"τ-bench retail not found at {TAU}; set INHOUSE_DATA to the folder that holds commerce/tau_retail.")
    settings = Settings()
    embedder = load_embedder("e5-small")
    report: dict = {"bench": "commerce_policy", "date": time.strftime("%Y-%m-%d"),
                    "policies": ["tau_retail/policy.md", "bench/data/commerce/tau_policy_ko.md"], "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "kb.db")
        ingest(store, settings, [TAU / "policy.md", POLICY_KO], "shop")
        embed_pending(store, embedder)
        lookups = {"hybrid": policy_lookup(store, "shop", settings, embedder),
                   "words only": policy_lookup(store, "shop", settings, None),
                   "vectors only": lambda q: search(store, Principal("shop", "commerce-agent"), q, settings, k=1,
                                                    mode="dense", embedder=embedder).hits}
        for lang in ("en", "ko"):
            lines = lines_for(lang)
            policy_doc = "policy.md" if lang == "en" else POLICY_KO.name
            for name, lookup in lookups.items():
                t0 = time.perf_counter()
                right, by_tool = 0, Counter()
                totals = Counter(ln.tool for ln in lines)
                for ln in lines:
                    outcome = Outcome(None, lang=lang, lines=[Line(ln.status, ln.text, ln.tool)])
                    cite(outcome, lookup)
                    c = outcome.citations[0] if outcome.citations else None
                    ok = c is not None and c.doc_path.endswith(policy_doc) and \
                        c.heading.split(" › ")[-1] == GOVERNS[lang][ln.tool]
                    right += ok
                    by_tool[ln.tool] += ok
                report["results"].setdefault(lang, {})[name] = {
                    "lines": len(lines), "accuracy": round(right / len(lines), 3),
                    "ms_per_line": round(1000 * (time.perf_counter() - t0) / len(lines), 1),
                    "by_tool": {t: round(by_tool[t] / n, 3) for t, n in sorted(totals.items())}}
        store.close()
    table = Table(title="Policy citations: the cited passage is in the section that governs the line's action")
    for col in ("language", "lookup", "lines", "accuracy", "ms / line", "weakest tool"):
        table.add_column(col, justify="left" if col in ("language", "lookup", "weakest tool") else "right")
    for lang, rows in report["results"].items():
        for name, r in rows.items():
            weakest = min(r["by_tool"].items(), key=lambda kv: kv[1])
            table.add_row(lang, name, str(r["lines"]), f"{r['accuracy']:.3f}", f"{r['ms_per_line']:.1f}",
                          f"{weakest[0]} {weakest[1]:.2f}")
    console.print(table)
    out = ROOT / "bench" / "results" / "commerce_policy.json"
    atomic_write_json(out, report)
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
