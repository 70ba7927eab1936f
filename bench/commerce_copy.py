"""Product copy from specs: what the local model's drafts claim beyond the spec, and what the checked copy keeps.

Items: τ-bench retail's 50 products; per product its first item (by id) written in English and its second in
Korean (the Korean names of bench/data/commerce/tau_catalog_ko.json): 100 items, each its own spec. The model
drafts three sentences meant to mention every spec value and nothing else (`apps/commerce/copy.py`); each
sentence is checked against the spec and removed if it states a number not in it, a sibling variant's value, or
another product's feature; a spec line adds what the kept sentences leave out.

Reported for the raw drafts (the baseline: the model alone) and the checked copy, same run: outputs with a value
not in the spec (a number, a sibling's value or another product's feature), numbers not in the spec, spec
values mentioned by the model's own (kept) sentences, and after the spec line. The checker is also what finds
violations in the checked copy, so "0" there is by construction; `--audit N` prints N checked copies beside
their specs for reading by hand (the count of claims a reader finds unsupported goes in docs/commerce.md).

    python bench/commerce_copy.py [--model qwen2.5-coder-1.5b] [--audit 20]

Resumable: drafts are cached per model, item and prompt in bench/.cache/commerce_copy. Writes
bench/results/commerce_copy.json and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.commerce_search import korean_catalog  # noqa: E402
from inhouse.apps.commerce import copy as copywriter  # noqa: E402
from inhouse.apps.commerce.catalog import read_catalog  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.chat import LlamaCppChat  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402
from inhouse.text import split_sentences  # noqa: E402

console = Console()
CACHE = ROOT / "bench" / ".cache" / "commerce_copy"


def tally(reasons: list[str]) -> dict:
    """Claims beyond the spec, by kind, from the checker's reasons."""
    return {"numbers": sum(r.startswith("the number") for r in reasons),
            "siblings": sum(r.startswith("says") for r in reasons),
            "features": sum(r.startswith("names") for r in reasons)}


def recheck(text: str, product, item, siblings, features) -> list[str]:  # noqa: ANN001
    """The checker's reasons for the finished copy, read again sentence by sentence."""
    return [r for a, b in split_sentences(text)
            for r in copywriter.check(" ".join(text[a:b].split()), product, item, siblings, features)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--audit", type=int, default=0, help="print this many checked copies beside their specs")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "commerce_copy.json"))
    args = ap.parse_args()

    tau = DATA / "commerce" / "tau_retail" / "products.json"
    en_products, en_items = read_catalog(tau)
    ko_file = Path(tempfile.mkdtemp(prefix="inhouse-copy-")) / "catalog_ko.jsonl"
    korean_catalog(ko_file)
    ko_products, ko_items = read_catalog(ko_file)
    jobs = []
    for lang, products, items, nth in (("en", en_products, en_items, 0), ("ko", ko_products, ko_items, 1)):
        for p in products:
            mine = sorted((it for it in items if it.product_id == p.product_id), key=lambda it: it.item_id)
            jobs.append((lang, p, mine[nth % len(mine)], copywriter.siblings_of(items, p.product_id),
                         copywriter.features_of(items, p.product_id)))

    name, path = Registry().resolve(args.model)
    model = LlamaCppChat(path, name=name, n_ctx=Settings().n_ctx, n_threads=args.threads)
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{name}: {len(jobs)} items", total=len(jobs))
        for lang, p, it, sib, feats in jobs:
            key = hashlib.sha256(json.dumps([name, copywriter.SYSTEM, copywriter.prompt(p, it, lang)],
                                            ensure_ascii=False).encode()).hexdigest()[:16]
            cached = CACHE / f"{key}.json"
            if cached.exists():
                draft, seconds = (lambda d: (d["draft"], d["seconds"]))(json.loads(cached.read_text("utf-8")))
            else:
                t0 = time.perf_counter()
                draft = model.complete([{"role": "system", "content": copywriter.SYSTEM},
                                        {"role": "user", "content": copywriter.prompt(p, it, lang)}],
                                       max_tokens=220, temperature=0.0).text.strip()
                seconds = time.perf_counter() - t0
                atomic_write_json(cached, {"draft": draft, "seconds": round(seconds, 2)})
            c = copywriter.checked(draft, p, it, sib, feats, lang, seconds)
            raw = tally([r for sentence in c.sentences for r in sentence.reasons])
            final = tally(recheck(c.text, p, it, sib, feats))
            raw_mentions = [v for v in it.options.values() if copywriter.mentions_value(draft, v)]
            rows.append({"lang": lang, "item_id": it.item_id, "product": p.name, "options": it.options,
                         "draft": draft, "text": c.text, "seconds": round(seconds, 2),
                         "sentences": len(c.sentences), "removed": [s.reasons for s in c.sentences if not s.kept],
                         "raw": raw, "final": final, "fields": len(it.options),
                         "raw_mentioned": len(raw_mentions), "kept_mentioned": len(c.mentioned),
                         "spec_line": len(c.missing),
                         "final_mentioned": sum(copywriter.mentions_value(c.text, v) for v in it.options.values())})
            bar.advance(task)

    def summary(sel: list[dict]) -> dict:
        n = len(sel)
        fields = sum(r["fields"] for r in sel)

        def bad(r: dict, k: str) -> bool:
            return any(r[k].values())
        return {
            "outputs": n,
            "raw_outputs_beyond_spec": round(sum(bad(r, "raw") for r in sel) / n, 4),
            "raw_numbers_not_in_spec": sum(r["raw"]["numbers"] for r in sel),
            "raw_sibling_values": sum(r["raw"]["siblings"] for r in sel),
            "raw_other_features": sum(r["raw"]["features"] for r in sel),
            "checked_outputs_beyond_spec": round(sum(bad(r, "final") for r in sel) / n, 4),
            "checked_numbers_not_in_spec": sum(r["final"]["numbers"] for r in sel),
            "raw_fields_mentioned": round(sum(r["raw_mentioned"] for r in sel) / fields, 4),
            "kept_fields_mentioned": round(sum(r["kept_mentioned"] for r in sel) / fields, 4),
            "fields_mentioned_with_spec_line": round(sum(r["final_mentioned"] for r in sel) / fields, 4),
            "sentences_removed": round(sum(len(r["removed"]) for r in sel)
                                       / max(1, sum(r["sentences"] for r in sel)), 4),
            "outputs_all_sentences_removed": sum(len(r["removed"]) == r["sentences"] for r in sel),
            "seconds_per_output": round(sum(r["seconds"] for r in sel) / n, 2),
        }

    report = {"bench": "commerce_copy", "model": name, "items": len(rows),
              "all": summary(rows), "en": summary([r for r in rows if r["lang"] == "en"]),
              "ko": summary([r for r in rows if r["lang"] == "ko"]), "rows": rows}
    table = Table(title=f"product copy, {name}: {len(rows)} items (τ-bench retail specs)")
    table.add_column("measure")
    for col in ("all", "en", "ko"):
        table.add_column(col, justify="right")
    for k in report["all"]:
        table.add_row(k, *(str(report[c][k]) for c in ("all", "en", "ko")))
    console.print(table)
    for r in rows[:args.audit] + [r for r in rows if r["lang"] == "ko"][:args.audit]:
        console.print(f"\n[bold]{r['product']}[/bold] {r['options']}\n{r['text']}", highlight=False)
    atomic_write_json(Path(args.out), report)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
