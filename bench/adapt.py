"""Domain adaptation, measured: the retriever's query adapter (`inhouse.tune.retriever`), base vs adapted.

KorQuAD 1.0 dev (Korean) and XQuAD-en (English), split by article (never by question): the adapter is trained
on the questions of 70% of the articles and scored on the questions of the others. Paragraphs are ingested and
embedded through the real pipeline (the store of bench/retrieval.py, cached in bench/.cache/retrieval); a
paragraph's rank is that of its best chunk. Reports Recall@1, Recall@5 and MRR@10 of dense search (numpy over
the stored vectors) and of the real hybrid `search`, base and adapted, on the held-out questions, with
McNemar's exact p-value on R@1 (paired).

    python bench/adapt.py [--langs ko,en] [--hybrid-limit 800] [--no-select [--epochs 30]]

Learning rate, pull to the identity and epochs are chosen on a validation split of the training articles
(`model_selection`); the held-out articles are scored once, with the chosen setting.

KorQuAD is CC BY-ND: an adapter trained on it is for this measurement only and is never written out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.config import Settings  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from inhouse.models.embedders import load_embedder  # noqa: E402
from inhouse.retrieve import search  # noqa: E402
from inhouse.tune.retriever import AdaptedEmbedder, train  # noqa: E402
from inhouse.types import Principal  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
HOLDOUT = 0.3
HARD_NEGATIVES = 3
GRID = {"lr": (2e-3, 1e-4, 1e-5), "reg": (1e-2, 1.0), "epochs": (3, 10)}


def articles(path: Path) -> list[int]:
    """The article index of each paragraph, in file order (as retrieval.load_squad numbers them)."""
    out = []
    for a, article in enumerate(json.loads(path.read_text("utf-8"))["data"]):
        out.extend(a for _ in article["paragraphs"])
    return out


def heldout_article(a: int, seed: int = 0) -> bool:
    h = hashlib.sha256(f"{seed}:{a}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < HOLDOUT


def chunk_vectors(store, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(paragraph index of each chunk, its stored vector)."""
    rows = store.conn.execute(
        "SELECT d.path, e.vector FROM embeddings e JOIN chunks c ON c.id = e.chunk_id "
        "JOIN documents d ON d.id = c.doc_id WHERE e.model = ? ORDER BY c.id", (model,)).fetchall()
    para = np.array([int(p[1:5]) for p, _ in rows])
    vecs = np.stack([np.frombuffer(v, dtype=np.float32) for _, v in rows])
    return para, vecs


def query_vectors(lang: str, questions: list[str], embedder, console: Console) -> np.ndarray:
    key = hashlib.sha256("\n".join(questions).encode()).hexdigest()[:16]
    path = CACHE / "adapt" / f"{lang}_{embedder.name}_{key}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    out = np.concatenate([embedder.embed_queries(questions[s:s + 64]) for s in range(0, len(questions), 64)])
    console.print(f"  {lang}: embedded {len(questions)} questions in {time.perf_counter() - t0:.0f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def paragraph_ranks(q: np.ndarray, para: np.ndarray, vecs: np.ndarray, n_para: int, k: int = 10) -> np.ndarray:
    """Top-k paragraphs per query (best chunk per paragraph), shape (n, k)."""
    out = np.empty((len(q), k), dtype=np.int64)
    for s in range(0, len(q), 256):
        scores = q[s:s + 256] @ vecs.T
        best = np.full((len(scores), n_para), -np.inf, dtype=np.float32)
        for j in range(scores.shape[0]):
            np.maximum.at(best[j], para, scores[j])
        out[s:s + 256] = np.argsort(-best, axis=1)[:, :k]
    return out


def metrics(ranked, gold) -> dict:
    r1 = [int(r[0] == g) if len(r) else 0 for r, g in zip(ranked, gold, strict=True)]
    r5 = [int(g in list(r[:5])) for r, g in zip(ranked, gold, strict=True)]
    mrr = [next((1 / (i + 1) for i, d in enumerate(list(r[:10])) if d == g), 0.0)
           for r, g in zip(ranked, gold, strict=True)]
    return {"r1": round(float(np.mean(r1)), 4), "r5": round(float(np.mean(r5)), 4),
            "mrr10": round(float(np.mean(mrr)), 4), "_hits1": r1}


def mcnemar(a: list[int], b: list[int]) -> float:
    """Exact two-sided McNemar p-value for paired 0/1 outcomes."""
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


class CachedQueries:
    """An embedder whose query vectors come from a table (this bench embedded every question once)."""

    def __init__(self, base, table: dict[str, np.ndarray]) -> None:
        self.base, self.table, self.name, self.dim = base, table, base.name, base.dim

    def embed(self, texts):
        return self.base.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.table[text.strip()]  # search strips the query

    def embed_queries(self, texts) -> np.ndarray:
        return np.stack([self.embed_query(t) for t in texts])


def training_pairs(qv: np.ndarray, gold: np.ndarray, para: np.ndarray, vecs: np.ndarray,
                   mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the questions in `mask`: the gold paragraph's best chunk under the base embedder, and hard negatives
    (the best chunks of other paragraphs)."""
    scores = qv[mask] @ vecs.T
    same = para[None, :] == gold[mask][:, None]
    gold_vecs = vecs[np.where(same, scores, -np.inf).argmax(axis=1)]
    other = np.where(same, -np.inf, scores)
    return gold_vecs, vecs[np.argsort(-other, axis=1)[:, :HARD_NEGATIVES]]


def model_selection(embedder, qv, gold, para, vecs, n_para: int, tr: np.ndarray, art: list[int],
                    console: Console) -> dict:
    """Learning rate, pull to the identity and epochs chosen on a validation split of the *training* articles
    (a second article hash), never on the held-out ones: the grid's validation R@1 against the base's."""
    val = tr & np.array([heldout_article(art[g], seed=1) for g in gold])
    fit = tr & ~val
    gold_vecs, negatives = training_pairs(qv, gold, para, vecs, fit)
    base = metrics(paragraph_ranks(qv[val], para, vecs, n_para), gold[val])["r1"]
    rows = []
    for lr in GRID["lr"]:
        for reg in GRID["reg"]:
            for epochs in GRID["epochs"]:
                w, _rep = train(qv[fit], gold_vecs, negatives, epochs=epochs, lr=lr, reg=reg, seed=0)
                adapted = AdaptedEmbedder(embedder, w).adapt(qv[val])
                r1 = metrics(paragraph_ranks(adapted, para, vecs, n_para), gold[val])["r1"]
                rows.append({"lr": lr, "reg": reg, "epochs": epochs, "val_r1": r1})
    best = max(rows, key=lambda r: r["val_r1"])
    console.print(f"  model selection: validation R@1 base {base:.3f}, best adapted {best['val_r1']:.3f} "
                  f"(lr {best['lr']}, reg {best['reg']}, {best['epochs']} epochs)")
    return {"fit_questions": int(fit.sum()), "val_questions": int(val.sum()), "val_r1_base": base, "grid": rows,
            "chosen": best}


def run_language(lang: str, args, console: Console) -> dict:
    store, paragraphs, qa, facts = retrieval.prepare_store(lang, CACHE / "retrieval", console)
    art = articles(retrieval.DATASETS[lang][1])
    embedder = load_embedder("e5-small")
    para, vecs = chunk_vectors(store, embedder.name)
    questions = [q for q, _ in qa]
    gold = np.array([g for _, g in qa])
    qv = query_vectors(lang, questions, embedder, console)
    test = np.array([heldout_article(art[g]) for g in gold])
    tr = ~test
    gold_vecs, negatives = training_pairs(qv, gold, para, vecs, tr)
    n_para = len(paragraphs)
    grid = model_selection(embedder, qv, gold, para, vecs, n_para, tr, art, console) if args.select else None
    chosen = {k: grid["chosen"][k] for k in GRID} if grid else {"epochs": args.epochs}  # else train's defaults
    t0 = time.perf_counter()
    w, rep = train(qv[tr], gold_vecs, negatives, seed=0, **chosen)
    train_s = time.perf_counter() - t0
    adapted = AdaptedEmbedder(embedder, w)
    base_dense = metrics(paragraph_ranks(qv[test], para, vecs, n_para), gold[test])
    ad_dense = metrics(paragraph_ranks(adapted.adapt(qv[test]), para, vecs, n_para), gold[test])
    result = {**facts, "train_questions": int(tr.sum()), "test_questions": int(test.sum()),
              "train_s": round(train_s, 1), "loss": [round(rep.loss_first, 4), round(rep.loss_last, 4)],
              "settings": chosen, "model_selection": grid,
              "dense": {"base": base_dense, "adapted": ad_dense,
                        "mcnemar_p_r1": mcnemar(base_dense["_hits1"], ad_dense["_hits1"])}}
    # The real hybrid search on (the first --hybrid-limit of) the held-out questions.
    idx = np.where(test)[0][:args.hybrid_limit]
    table = {questions[i].strip(): qv[i] for i in idx}
    settings = Settings()
    principal = Principal("bench", "bench", ())
    index_of = {retrieval.doc_name(i): i for i in range(n_para)}
    hybrid = {}
    for label, emb in (("base", CachedQueries(embedder, table)),
                       ("adapted", CachedQueries(embedder, {q: adapted.adapt(v) for q, v in table.items()}))):
        t0 = time.perf_counter()
        ranked = [retrieval.doc_ranking(search(store, principal, questions[i], settings, k=30, mode="hybrid",
                                               embedder=emb).hits, index_of) for i in idx]
        hybrid[label] = {**metrics(ranked, gold[idx]), "s": round(time.perf_counter() - t0, 1)}
    hybrid["mcnemar_p_r1"] = mcnemar(hybrid["base"]["_hits1"], hybrid["adapted"]["_hits1"])
    hybrid["questions"] = len(idx)
    result["hybrid"] = hybrid
    store.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", default="ko,en")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hybrid-limit", type=int, default=800, help="held-out questions put to the hybrid search")
    ap.add_argument("--no-select", dest="select", action="store_false",
                    help="skip model selection (tune.retriever.train's lr and reg, --epochs)")
    args = ap.parse_args()
    console = Console()
    results = {}
    for lang in args.langs.split(","):
        results[lang] = run_language(lang, args, console)
    table = Table(title="Retriever adaptation: held-out articles, base vs adapted query vectors")
    for col in ("lang", "search", "questions", "R@1 base", "R@1 adapted", "R@5 base", "R@5 adapted", "p (R@1)"):
        table.add_column(col)
    for lang, r in results.items():
        for mode in ("dense", "hybrid"):
            m = r[mode]
            n = r["test_questions"] if mode == "dense" else m["questions"]
            table.add_row(lang, mode, str(n), f"{m['base']['r1']:.3f}", f"{m['adapted']['r1']:.3f}",
                          f"{m['base']['r5']:.3f}", f"{m['adapted']['r5']:.3f}", f"{m['mcnemar_p_r1']:.2g}")
    console.print(table)
    for r in results.values():
        for mode in ("dense", "hybrid"):
            for label in ("base", "adapted"):
                r[mode][label].pop("_hits1")
    out = ROOT / "bench" / "results" / "adapt_retriever.json"
    atomic_write_json(out, {"holdout": HOLDOUT, "hard_negatives": HARD_NEGATIVES, "epochs": args.epochs,
                            "results": results})
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
