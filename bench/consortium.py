"""The consortium's dedup and copy filter, measured on planted edits of NSMC movie reviews.

Data: ../shared/data/ko_reviews/nsmc_top300_movies.tsv (30,000 Naver movie reviews). Reviews of at least 30
characters (spaces aside) are the base; the base is first cleared of natural near-duplicates (a char-4-gram MinHash
LSH at estimated Jaccard 0.2, half the default threshold), so that a flag on a base review is a false
positive of the method, not a duplicate NSMC already held. Half of the base is contributed by partner "press";
1,000 of those reviews (seeded) get one edited copy each, of four kinds (250 each), contributed by partner "shop":
- drop: about 15% of the words deleted (at least one);
- insert: 1–3 words from another review inserted at random places;
- reorder: two sentences swapped, or the first third of the words moved to the end;
- spacing: spaces removed at half of the word boundaries and added inside some words.
The other half of the base is held out: never contributed, it stands for ordinary model outputs.

Shingle size and threshold (character 4-grams, estimated Jaccard 0.4) were chosen on the copies of odd groups of four
(copies 0–3, 8–11, …); `recall_test_half` is measured on the others.

Dedup (through `inhouse.consortium.contribute.contribute`, the code `inhouse consortium add` runs, with the served
model's tokenizer counting tokens): a copy is found when it is marked a duplicate or near-duplicate of its own
original; precision counts every flag (a flag on a base review is wrong). Baselines in the same run: exact hashing
(case and spacing aside) and MinHash over word 5-grams, same LSH and threshold. Copies the cleaning filters dropped
(too short after the edit) are counted apart, not as found. Throughput: the MinHash signatures and LSH lookups of
all contributed text, in MB of UTF-8 per second (and the whole `contribute`, cleaning and token counts included).

Copy filter (`inhouse.consortium.CopyFilter`, 50 characters): 500 planted outputs each carrying a 50–80 character
passage of a contributed review inside an answer sentence, re-spaced; ordinary outputs: 2,000 of two held-out
movie reviews each and every shopping review (another domain); and 500 outputs carrying a 40–49 character passage
(below the bar, must pass).

    python bench/consortium.py

Writes bench/results/consortium.json and prints the tables.
"""

from __future__ import annotations

import csv
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))
NSMC = DATA / "ko_reviews" / "nsmc_top300_movies.tsv"

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.consortium import CopyFilter, MinHasher, NearDuplicates, open_consortium  # noqa: E402
from inhouse.consortium.contribute import SHORT, contribute  # noqa: E402
from inhouse.consortium.dedup import exact_key  # noqa: E402
from inhouse.consortium.filter import squeeze  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.registry import Registry  # noqa: E402
from inhouse.models.tokenizer import Tokenizer  # noqa: E402

console = Console(width=150)
KINDS = ("drop", "insert", "reorder", "spacing")
SEED = 13
THRESHOLD = 0.4  # the default of `inhouse consortium add`
BASE_CHARS = 30  # reviews this long (spaces aside) make the base


def reviews() -> list[str]:
    out = []
    with NSMC.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            text = " ".join((row.get("review") or "").split())
            if len(squeeze(text)) >= BASE_CHARS:
                out.append(text)
    return out


def all_texts() -> list[str]:
    with NSMC.open(encoding="utf-8", newline="") as f:
        return [row.get("review") or "" for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def clean_base(texts: list[str]) -> list[str]:
    """The reviews without exact or natural near-duplicates (estimated Jaccard ≥ 0.2 to an earlier one)."""
    hasher = MinHasher()
    index = NearDuplicates(hasher, threshold=0.2)
    seen: set[str] = set()
    unique = []
    for text in texts:
        key = exact_key(re.sub(r"\W", "", text))
        if key not in seen:
            seen.add(key)
            unique.append(text)
    matches = index.assign(list(range(len(unique))), hasher.signatures(unique))
    return [t for t, m in zip(unique, matches, strict=True) if m is None]


def edit(text: str, kind: str, rng: random.Random, donor: str) -> str:
    words = text.split()
    if kind == "drop":
        n = max(1, round(0.15 * len(words)))
        gone = set(rng.sample(range(len(words)), min(n, len(words) - 1)))
        return " ".join(w for i, w in enumerate(words) if i not in gone)
    if kind == "insert":
        extra = donor.split()
        for w in rng.sample(extra, min(len(extra), rng.randint(1, 3))):
            words.insert(rng.randint(0, len(words)), w)
        return " ".join(words)
    if kind == "reorder":
        parts = [p for p in re.split(r"(?<=[.!?])\s+", text) if p]
        if len(parts) >= 2:
            i, j = rng.sample(range(len(parts)), 2)
            parts[i], parts[j] = parts[j], parts[i]
            return " ".join(parts)
        cut = max(1, len(words) // 3)
        return " ".join(words[cut:] + words[:cut])
    # spacing: join half of the word boundaries, split some words
    out = words[0]
    for w in words[1:]:
        out += w if rng.random() < 0.5 else " " + w
    chars = list(out)
    for _ in range(max(1, len(chars) // 15)):
        k = rng.randrange(1, len(chars))
        if chars[k] != " " and chars[k - 1] != " ":
            chars.insert(k, " ")
    return "".join(chars)


def write_tsv(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        w.writerow(["id", "review"])
        w.writerows([i, t] for i, t in enumerate(texts))


def shop_reviews() -> list[str]:
    """Shopping reviews (Danawa, Naver): another domain, so none can truly near-duplicate a movie review."""
    out = []
    for name, column in (("danawa_mouse_reviews.csv", "review"), ("danawa_kimchi_reviews.csv", "text"),
                         ("naver_shop_galaxybuds_200.csv", "reviews")):
        with (DATA / "ko_reviews" / name).open(encoding="utf-8-sig", newline="") as f:
            out += [" ".join((r.get(column) or "").split()) for r in csv.DictReader(f)]
    return [t for t in out if len(squeeze(t)) >= BASE_CHARS]


def run_method(name: str, files: dict[str, Path], count, hasher: MinHasher | None,  # noqa: ANN001
               copies: list[tuple[int, str]], threshold: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_consortium(Path(tmp), create=True)
        kw = {"near": False} if hasher is None else {"threshold": threshold, "hasher": hasher}
        t0 = time.perf_counter()
        added = {partner: contribute(db, partner, path, count, **kw) for partner, path in files.items()}
        seconds = time.perf_counter() - t0
        rows = {partner: db.texts(a["id"]) for partner, a in added.items()}
        db.close()
    flagged = ("duplicate", "near-duplicate")
    first = rows["press"][0]["id"]
    mall_first = rows["mall"][0]["id"]
    wrong = sum(1 for r in rows["press"] if r["decision"] in flagged)
    cross = sum(1 for r in rows["mall"] if r["decision"] in flagged and r["dup_of"] < mall_first)
    within_mall = sum(1 for r in rows["mall"] if r["decision"] in flagged and r["dup_of"] >= mall_first)
    found, filtered, by_kind, test = 0, 0, {k: [0, 0] for k in KINDS}, [0, 0]
    for n, ((orig, kind), r) in enumerate(zip(copies, rows["shop"], strict=True)):
        if r["decision"] == "filtered":
            filtered += 1
            continue
        ok = r["decision"] in flagged and r["dup_of"] == first + orig
        wrong += r["decision"] in flagged and not ok
        found += ok
        by_kind[kind][0] += ok
        by_kind[kind][1] += 1
        if (n // 4) % 2:  # the half not used to choose k and the threshold
            test[0] += ok
            test[1] += 1
    false_flags = wrong + cross
    scored = len(copies) - filtered
    return {"method": name, "threshold": None if hasher is None else threshold, "copies": len(copies),
            "copies_filtered": filtered, "found": found, "recall": round(found / scored, 4),
            "recall_test_half": round(test[0] / test[1], 4),
            "precision": round(found / (found + false_flags), 4) if found + false_flags else 1.0,
            "false_flags": false_flags, "false_flags_on_movie_reviews": wrong, "false_flags_across_domains": cross,
            "flags_within_shopping_reviews": within_mall,
            "recall_by_edit": {k: round(f / n, 4) if n else None for k, (f, n) in by_kind.items()},
            "contribute_seconds": round(seconds, 2)}


def dedup_speed(texts: list[str]) -> dict:
    """MB/s (UTF-8) of the dedup decisions `contribute` makes, over `texts`: exact keys for every text, then
    signatures and LSH lookups for those long enough (`SHORT`) that are not exact duplicates. Best of two."""
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    best = None
    for _ in range(2):
        hasher = MinHasher()
        index = NearDuplicates(hasher)
        t0 = time.perf_counter()
        seen: set[str] = set()
        eligible = []
        for t in texts:
            key = exact_key(t)
            if key not in seen:
                seen.add(key)
                if len("".join(t.split())) >= SHORT:  # as `contribute` measures it
                    eligible.append(t)
        index.assign(list(range(len(eligible))), hasher.signatures(eligible))
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return {"texts": len(texts), "mb": round(mb, 2), "seconds": round(best, 2), "mb_per_s": round(mb / best, 2)}


def filter_bench(contributed: list[str], held_out: list[str], other_domain: list[str], rng: random.Random) -> dict:
    f = CopyFilter(min_chars=50)
    f.add(enumerate(contributed))
    long_enough = [t for t in contributed if len(squeeze(t)) >= 80]
    frames = ["답변: {} 이상입니다.", "The review says: {} — that is all.", "요약하면 {} 라고 합니다.", "{}"]

    def planted(lo: int, hi: int) -> tuple[str, int]:
        src = rng.choice(long_enough)
        s = squeeze(src)
        n = rng.randint(lo, hi)
        start = rng.randrange(0, len(s) - n + 1)
        piece = s[start: start + n]
        spaced = "".join(c + (" " if rng.random() < 0.2 else "") for c in piece)
        return rng.choice(frames).format(spaced), n

    t0 = time.perf_counter()
    copies = [planted(50, 80) for _ in range(500)]
    caught = sum(f.check(text) is not None for text, _ in copies)
    short = [planted(40, 49) for _ in range(500)]
    short_blocked = sum(f.check(text) is not None for text, _ in short)
    ordinary = [" ".join(held_out[i: i + 2]) for i in range(0, 4000, 2)] + other_domain
    blocked = [o for o in ordinary if f.check(o) is not None]
    seconds = time.perf_counter() - t0
    return {"indexed_texts": len(f), "planted_copies": len(copies), "caught": caught,
            "catch_rate": round(caught / len(copies), 4), "below_50_outputs": len(short),
            "below_50_blocked": short_blocked, "ordinary_outputs": len(ordinary), "ordinary_blocked": len(blocked),
            "false_positive_rate": round(len(blocked) / len(ordinary), 4), "blocked_examples": blocked[:3],
            "ms_per_check": round(1000 * seconds / (len(copies) + len(short) + len(ordinary)), 2)}


def main() -> None:
    if not NSMC.is_file():
        sys.exit(f"NSMC reviews not found at {NSMC}; set INHOUSE_DATA to the folder that holds ko_reviews/.")
    rng = random.Random(SEED)
    all_reviews = reviews()
    base = clean_base(all_reviews)
    rng.shuffle(base)
    half = len(base) // 2
    contributed, held_out = base[:half], base[half:]
    originals = rng.sample(range(len(contributed)), 1000)
    copies = [(o, KINDS[k % 4]) for k, o in enumerate(originals)]
    copy_texts = [edit(contributed[o], kind, rng, rng.choice(held_out)) for o, kind in copies]
    name, path = Registry().resolve(None)
    tokenizer = Tokenizer(path, name)
    report: dict = {"bench": "consortium", "date": time.strftime("%Y-%m-%d"), "data": "NSMC top-300 movies",
                    "reviews_30_chars": len(all_reviews), "base_after_natural_dedup": len(base),
                    "contributed": len(contributed), "held_out": len(held_out), "tokenizer": name}
    mall = shop_reviews()
    report["shopping_reviews"] = len(mall)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"press": Path(tmp) / "press.tsv", "shop": Path(tmp) / "shop.tsv", "mall": Path(tmp) / "mall.tsv"}
        for path, texts in zip(files.values(), (contributed, copy_texts, mall), strict=True):
            write_tsv(path, texts)
        report["dedup"] = [
            run_method("exact hash", files, tokenizer.count, None, copies, THRESHOLD),
            run_method("MinHash word 5-grams", files, tokenizer.count, MinHasher(unit="word", k=5), copies,
                       THRESHOLD),
            run_method("MinHash char 4-grams (InHouse)", files, tokenizer.count, MinHasher(), copies, THRESHOLD),
        ]
    report["speed"] = dedup_speed(all_texts())
    mb = sum(len(t.encode("utf-8")) for t in contributed + copy_texts + mall) / 1e6
    ours = report["dedup"][-1]
    report["speed"]["contribute_mb_per_s"] = round(mb / ours["contribute_seconds"], 2)
    report["filter"] = filter_bench(contributed, held_out, mall, rng)

    table = Table(title=f"Near-duplicates: 1,000 planted edits among {len(contributed):,} contributed reviews")
    for col in ("method", "precision", "recall", "test half", *KINDS, "false flags", "copies filtered"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in report["dedup"]:
        table.add_row(r["method"], f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['recall_test_half']:.4f}",
                      *(f"{r['recall_by_edit'][k]:.2f}" for k in KINDS), str(r["false_flags"]),
                      str(r["copies_filtered"]))
    console.print(table)
    s = report["speed"]
    console.print(f"dedup of all {s['texts']:,} NSMC reviews: {s['mb']} MB in {s['seconds']} s = {s['mb_per_s']} "
                  f"MB/s; whole contribute (cleaning, PII, tokens, database) {s['contribute_mb_per_s']} MB/s")
    f = report["filter"]
    console.print(f"copy filter: {f['caught']}/{f['planted_copies']} planted ≥50-character copies caught; "
                  f"{f['ordinary_blocked']}/{f['ordinary_outputs']} ordinary outputs blocked "
                  f"({f['false_positive_rate']:.2%}); {f['below_50_blocked']}/{f['below_50_outputs']} 40–49 "
                  f"character copies blocked; {f['ms_per_check']} ms per check")
    out = ROOT / "bench" / "results" / "consortium.json"
    atomic_write_json(out, report)
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
