"""Review summaries: aspect-polarity accuracy on SemEval-2014, quote checks on Korean shopping reviews, speed.

1. SemEval-2014 aspect polarity (laptops, restaurants; positive / negative / neutral): our classifier (e5
   embeddings of the marked sentence and of the aspect's window, logistic regression; `reviews.Polarity`)
   trained on each domain's train split, against the majority class and TF-IDF + logistic regression, scored
   on the gold test split.
2. Korean reviews with stars (Danawa mouse, Danawa kimchi, Naver Galaxy Buds+; each file one product): the
   shop's aspects mined, reviews analysed, a summary built (top 10 aspects, 3 pros and 3 cons each). Every
   quote must be an exact substring of its review. A quote's polarity agrees with its review's stars when a
   pro comes from a review of 4–5 stars and a con from one of 1–3 (pros and cons apart: most reviews have five
   stars, so pros agree easily). Three classifiers: trained on SemEval (English, applied across languages),
   and trained on the shop's own stars (`star_examples`) with and without balanced class weights,
   cross-fitted: each half of the reviews is analysed by a classifier trained on the other half. Agreement is
   also given over every positive or negative mention, against calling every mention positive.
3. Speed: reviews analysed per second (Kiwi, clauses, mentions, embeddings, classifier) on all the Korean
   reviews above, and the time to bring a summary up to date after 100 new reviews.

    python bench/commerce_reviews.py [--quick]

Writes bench/results/commerce_reviews.json and prints tables.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.commerce.reviews import (  # noqa: E402
    Polarity,
    Review,
    ReviewStore,
    mine_aspects,
    star_examples,
    views,
)
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402

console = Console()
LABEL = {"-1": "negative", "0": "neutral", "1": "positive"}


def semeval(name: str) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(views, labels, plain sentences) of a SemEval-2014 .seg file (sentence with $T$, aspect, polarity)."""
    lines = (DATA / "en_absa" / name).read_text("utf-8").splitlines()
    pairs, labels, plain = [], [], []
    for i in range(0, len(lines) - 2, 3):
        sentence, aspect, label = lines[i].strip(), lines[i + 1].strip(), lines[i + 2].strip()
        left, right = sentence.split("$T$", 1)
        text = f"{left}{aspect}{right}"
        pairs.append(views(text, (0, len(text)), (len(left), len(left) + len(aspect)), aspect))
        labels.append(LABEL[label])
        plain.append(text)
    return pairs, labels, plain


def korean_sets(limit: int | None) -> dict[str, list[Review]]:
    """Each file as one product's reviews, stars on 1–5 (kimchi: its 0–4 label_old + 1)."""
    folder = DATA / "ko_reviews"
    spec = {"danawa_mouse": ("danawa_mouse_reviews.csv", "review", lambda r: float(r["star_score"]) / 20),
            "danawa_kimchi": ("danawa_kimchi_reviews.csv", "text", lambda r: float(r["label_old"]) + 1),
            "naver_galaxybuds": ("naver_shop_galaxybuds_200.csv", "reviews", lambda r: float(r["ratings"]))}
    out = {}
    for name, (file, column, stars) in spec.items():
        with (folder / file).open(encoding="utf-8-sig", newline="") as f:
            rows = [r for r in csv.DictReader(f) if (r.get(column) or "").strip()]
        out[name] = [Review(f"{name}:{i}", name, r[column].strip(), stars(r)) for i, r in enumerate(rows[:limit])]
    return out


def quote_checks(store: ReviewStore, product: str, reviews: dict[str, Review]) -> Counter:
    """Quotes shown (top 10 aspects, 3 pros and 3 cons each): exact, and agreeing with their review's stars,
    pros and cons apart. Every positive or negative mention likewise, and how many come from 4–5-star reviews
    (what calling every mention positive would score)."""
    c: Counter = Counter()
    summary = store.summary(product, quotes=3)
    for a in summary.aspects[:10]:
        for kind, quotes in (("pro", a.pros), ("con", a.cons)):
            for q in quotes:
                review = reviews[q.review_id]
                stars = review.stars or 3
                c["quotes"] += 1
                c[f"{kind}s"] += 1
                c["exact"] += review.text[q.start:q.end] == q.text and q.text in review.text
                agree = (stars >= 4) if kind == "pro" else (stars <= 3)
                c["agree"] += agree
                c[f"{kind}s_agree"] += agree
    for rid, pol in store.opinions():
        stars = reviews[rid].stars or 3
        c["mentions"] += 1
        c["mentions_agree"] += (stars >= 4) if pol == "positive" else (stars <= 3)
        c["mentions_high_stars"] += stars >= 4
        c["negative_mentions"] += pol == "negative"
        c["negative_mentions_agree"] += pol == "negative" and stars <= 3
    return c


def rates(c: Counter) -> dict:
    def share(a: str, b: str) -> float | None:
        return round(c[a] / c[b], 3) if c[b] else None

    return {"quotes": c["quotes"], "exact": share("exact", "quotes"), "quotes_agree": share("agree", "quotes"),
            "pros": c["pros"], "pros_agree": share("pros_agree", "pros"), "cons": c["cons"],
            "cons_agree": share("cons_agree", "cons"), "mentions": c["mentions"],
            "mentions_agree": share("mentions_agree", "mentions"),
            "all_positive_baseline": share("mentions_high_stars", "mentions"),
            "negative_mentions": c["negative_mentions"],
            "negative_mentions_agree": share("negative_mentions_agree", "negative_mentions")}


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 reviews per Korean set, no speed run (a smoke test)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "commerce_reviews.json"))
    args = ap.parse_args()
    if not (DATA / "en_absa").is_dir() or not (DATA / "ko_reviews").is_dir():
        sys.exit(f"en_absa/ and ko_reviews/ not found under {DATA}; set INHOUSE_DATA to the shared data folder.")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    embedder = load_embedder("e5-small")
    report: dict = {"bench": "commerce_reviews", "date": time.strftime("%Y-%m-%d"), "semeval": {}, "korean": {},
                    "speed": {}}

    # 1. SemEval-2014 ---------------------------------------------------------------------------------------
    train_all: tuple[list, list] = ([], [])
    table = Table(title="SemEval-2014 aspect polarity, test accuracy (3 classes)")
    for col in ("domain", "test aspects", "majority", "TF-IDF + LR", "ours (e5 views + LR)"):
        table.add_column(col, justify="left" if col == "domain" else "right")
    for domain in ("Laptops", "Restaurants"):
        tr_x, tr_y, tr_plain = semeval(f"{domain}_Train.xml.seg")
        te_x, te_y, te_plain = semeval(f"{domain}_Test_Gold.xml.seg")
        if args.quick:
            tr_x, tr_y, tr_plain, te_x, te_y, te_plain = tr_x[:400], tr_y[:400], tr_plain[:400], te_x[:150], \
                te_y[:150], te_plain[:150]
        train_all[0].extend(tr_x)
        train_all[1].extend(tr_y)
        majority = Counter(tr_y).most_common(1)[0][0]
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        tfidf = LogisticRegression(C=10, max_iter=3000).fit(vec.fit_transform(tr_plain), tr_y)
        ours = Polarity(embedder).fit(tr_x, tr_y, trained_on=f"SemEval-2014 {domain} train")
        row = {"test": len(te_y),
               "majority": float(np.mean([y == majority for y in te_y])),
               "tfidf_lr": float(np.mean(tfidf.predict(vec.transform(te_plain)) == np.array(te_y))),
               "ours": float(np.mean([p == y for (p, _), y in zip(ours.predict(te_x), te_y, strict=True)]))}
        report["semeval"][domain.lower()] = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
        table.add_row(domain, str(row["test"]), f"{row['majority']:.3f}", f"{row['tfidf_lr']:.3f}",
                      f"[bold]{row['ours']:.3f}[/bold]")
    console.print(table)
    semeval_head = Polarity(embedder).fit(*train_all, trained_on="SemEval-2014 laptops + restaurants train")

    # 2. Korean reviews --------------------------------------------------------------------------------------
    sets = korean_sets(300 if args.quick else None)
    table = Table(title="Korean review summaries: quotes exact, polarity agreeing with the review's stars")
    for col in ("reviews", "classifier", "quotes", "exact", "agree", "pros agree", "cons agree", "mentions agree",
                "all-positive", "neg. mentions agree"):
        table.add_column(col, justify="left" if col in ("reviews", "classifier") else "right")
    totals: dict[str, Counter] = {}

    def row(label: str, head_name: str, r: dict) -> None:
        table.add_row(label, head_name, str(r["quotes"]), f"{r['exact']:.0%}", _f(r["quotes_agree"]),
                      f"{_f(r['pros_agree'])} ({r['pros']})", f"{_f(r['cons_agree'])} ({r['cons']})",
                      _f(r["mentions_agree"]), _f(r["all_positive_baseline"]),
                      f"{_f(r['negative_mentions_agree'])} ({r['negative_mentions']})")

    for name, reviews in sets.items():
        by_id = {r.review_id: r for r in reviews}
        aspects = mine_aspects(r.text for r in reviews)
        halves = [reviews[0::2], reviews[1::2]]
        results = {}
        for head_name in ("semeval", "shop stars", "shop stars, balanced"):
            c: Counter = Counter()
            for k, half in enumerate(halves):
                if head_name == "semeval":
                    head = semeval_head
                else:
                    x, y = star_examples(halves[1 - k], aspects)
                    head = Polarity(embedder).fit(x, y, trained_on=f"{name} stars, other half",
                                                  balanced=head_name.endswith("balanced"))
                store = ReviewStore(":memory:")
                store.add(half)
                store.set_aspects(aspects)
                store.analyse(head)
                c += quote_checks(store, name, by_id)
                store.close()
            totals.setdefault(head_name, Counter()).update(c)
            results[head_name] = rates(c)
            row(f"{name} ({len(reviews)})", head_name, results[head_name])
        report["korean"][name] = {"reviews": len(reviews), "aspects": [a.name for a in aspects[:10]], **results}
    for head_name, c in totals.items():
        report["korean"].setdefault("all", {})[head_name] = rates(c)
        row("all", head_name, report["korean"]["all"][head_name])
    console.print(table)

    # 3. Speed -----------------------------------------------------------------------------------------------
    if not args.quick:
        everything = [r for rs in sets.values() for r in rs]
        head = Polarity(embedder).fit(*train_all)
        Polarity.forget()  # nothing embedded before: the timing includes every embedding
        store = ReviewStore(":memory:")
        store.add(everything[:-100])
        store.set_aspects(mine_aspects(r.text for r in everything))
        t0 = time.perf_counter()
        n = store.analyse(head)
        full = time.perf_counter() - t0
        store.add(everything[-100:])
        t0 = time.perf_counter()
        store.analyse(head)
        store.summary("danawa_kimchi")
        incremental = time.perf_counter() - t0
        mentions = store.mention_count()
        report["speed"] = {"reviews": n, "mentions": mentions, "seconds": round(full, 1),
                           "reviews_per_second": round(n / full, 1),
                           "projected_100k_minutes": round(100_000 / (n / full) / 60, 1),
                           "update_after_100_new_seconds": round(incremental, 2), "cores": os.cpu_count()}
        s = report["speed"]
        console.print(f"speed: {s['reviews']} reviews ({s['mentions']} mentions) analysed in {s['seconds']} s = "
                      f"{s['reviews_per_second']} reviews/s on {s['cores']} cores (100k reviews at that rate: "
                      f"{s['projected_100k_minutes']} min); 100 new reviews and the summary: "
                      f"{s['update_after_100_new_seconds']} s")
    if not args.quick:
        atomic_write_json(Path(args.out), report)
        console.print(f"wrote {Path(args.out).relative_to(ROOT) if Path(args.out).is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
