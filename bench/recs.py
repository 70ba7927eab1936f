"""Recommendation quality and speed on MovieLens-100K and Amazon Beauty, plus a 1M-interaction scale run.

Protocol (per data set, all in one run): leave-last-out (each user's last interaction by time is the
target; Beauty has no timestamps, its S3Rec line order is the time order); full ranking of every item the
user has not interacted with. Every model (ours: pop, itemknn, ease, ials, seq; external references:
`implicit` ALS and BPR) is tuned by the same coordinate ascent on a validation split (each user's
second-to-last item, test targets removed), refitted on the training split and scored once on test.
`auto` is the model with the best validation NDCG@10, so its test row is one of ours, chosen blind.

Scale: synthetic 1M unique interactions over 100k items and 50k users, trained through the public API
(`inhouse.apps.recommend.train` with fixed parameters) in a child process per model, which reports
training time, peak RSS and `recommend_user` latency (p50/p95 over 500 users, model loaded).

    python bench/recs.py [--only ml-100k,beauty,scale] [--no-ease]

Writes bench/results/recs.json and prints tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("INHOUSE_DATA", ROOT.parent / "shared" / "data"))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from inhouse.apps.recommend import data as D  # noqa: E402
from inhouse.apps.recommend.metrics import evaluate  # noqa: E402
from inhouse.apps.recommend.tuning import coordinate_ascent, fit_eval, score_fn, train_data, tune  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402

console = Console(width=200)
OURS = ("pop", "itemknn", "ease", "ials", "seq")


def load_ml100k() -> D.Interactions:
    users, items, ts = [], [], []
    with (DATA / "recsys" / "ml-100k" / "ml-100k.inter").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            u, i, _, t = line.rstrip("\n").split("\t")
            users.append(u)
            items.append(i)
            ts.append(float(t))
    return D.from_arrays(np.array(users), np.array(items), np.array(ts))


def load_beauty() -> D.Interactions:
    users, items = [], []
    with (DATA / "recsys" / "amazon_s3rec" / "Beauty.txt").open(encoding="utf-8") as f:
        for line in f:
            u, *seq = line.split()
            users += [u] * len(seq)
            items += seq
    return D.from_arrays(np.array(users), np.array(items))  # time = line order


# -- implicit (external reference) -----------------------------------------------------------------


def implicit_model(name: str, params: dict):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if name == "implicit-als":
        return AlternatingLeastSquares(random_state=0, **params)
    return BayesianPersonalizedRanking(random_state=0, **params)


IMPLICIT_GRIDS = {
    "implicit-als": (
        {"factors": 64, "regularization": 0.01, "alpha": 1.0, "iterations": 15},
        {
            "alpha": [1.0, 10.0, 40.0, 100.0],
            "regularization": [0.001, 0.01, 0.1, 1.0, 10.0, 50.0],
            "factors": [64, 128, 256],
        },
    ),
    "implicit-bpr": (
        {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
        {
            "learning_rate": [0.01, 0.05, 0.1, 0.2],
            "regularization": [0.0001, 0.001, 0.01, 0.1],
            "factors": [64, 128, 256],
        },
    ),
}


def implicit_fit_eval(name: str, params: dict, split: D.Split, max_users: int | None = None, n_boot: int = 0):
    data = train_data(split.train)
    X = data.X.copy()
    X.data[:] = 1.0
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit's own advice: its threads, not OpenBLAS's
        model = implicit_model(name, params)
        t0 = time.perf_counter()
        model.fit(X, show_progress=False)
        fit_s = time.perf_counter() - t0
    U, V = np.asarray(model.user_factors), np.asarray(model.item_factors)
    users, items = split.test_users, split.test_items
    if max_users and len(users) > max_users:
        keep = np.random.default_rng(0).choice(len(users), max_users, replace=False)
        users, items = users[keep], items[keep]
    res = evaluate(lambda us: U[us] @ V.T, data.X, users, items, n_boot=n_boot)
    return res, fit_s


def implicit_tune(name: str, val: D.Split) -> tuple[dict, float, float]:
    t0 = time.perf_counter()
    best, grid = IMPLICIT_GRIDS[name]
    cache: dict[str, float] = {}

    def run(p: dict) -> float:
        key = repr(sorted(p.items()))
        if key not in cache:
            cache[key] = implicit_fit_eval(name, p, val, max_users=5000)[0].metrics["ndcg@10"]
        return cache[key]

    best, best_score = coordinate_ascent(run, best, grid)
    return best, best_score, time.perf_counter() - t0


# -- one data set ------------------------------------------------------------------------------------


def run_dataset(label: str, inter: D.Interactions, models: tuple[str, ...]) -> dict:
    console.print(f"[bold]{label}[/]: {inter.n_users} users, {inter.n_items} items, {len(inter)} pairs")
    test = D.leave_last_out(inter)
    val = D.leave_last_out(test.train)
    rows = []
    for name in models:
        tuned = tune(name, val)
        model, res, fit_s = fit_eval(name, tuned.params, test, n_boot=1000)
        data = train_data(test.train)
        fn = score_fn(model, data)
        # Single-user serving latency: score one history, exclude seen, take the top 10.
        sample = np.random.default_rng(0).choice(
            test.test_users, min(300, len(test.test_users)), replace=False
        )
        lat = []
        for u in sample:
            t0 = time.perf_counter()
            s = fn(np.array([u]))[0]
            s[data.X[u].indices] = -np.inf
            np.argpartition(-s, 10)[:10]
            lat.append(time.perf_counter() - t0)
        rows.append(
            {
                "model": name,
                "params": tuned.params,
                "val_ndcg@10": round(tuned.val_ndcg, 5),
                "tune_s": round(tuned.seconds, 1),
                "fit_s": round(fit_s, 2),
                "recs_per_s_batch": round(res.users / res.seconds, 1),
                "latency_p95_ms": round(float(np.percentile(lat, 95)) * 1000, 2),
                **res.to_json(),
            }
        )
        console.print(
            f"  {name}: val {tuned.val_ndcg:.4f} test NDCG@10 {res.metrics['ndcg@10']:.4f} "
            f"(fit {fit_s:.1f}s, tune {tuned.seconds:.0f}s)"
        )
    for name in IMPLICIT_GRIDS:
        params, val_score, tune_s = implicit_tune(name, val)
        res, fit_s = implicit_fit_eval(name, params, test, n_boot=1000)
        rows.append(
            {
                "model": name,
                "params": params,
                "val_ndcg@10": round(val_score, 5),
                "tune_s": round(tune_s, 1),
                "fit_s": round(fit_s, 2),
                "recs_per_s_batch": round(res.users / res.seconds, 1),
                "latency_p95_ms": None,
                **res.to_json(),
            }
        )
        console.print(
            f"  {name}: val {val_score:.4f} test NDCG@10 {res.metrics['ndcg@10']:.4f} (fit {fit_s:.1f}s)"
        )
    ours = [r for r in rows if r["model"] in OURS]
    auto = max(ours, key=lambda r: r["val_ndcg@10"])
    pop = next(r for r in rows if r["model"] == "pop")
    best_ext = max((r for r in rows if r["model"].startswith("implicit")), key=lambda r: r["ndcg@10"])
    summary = {
        "auto_pick": auto["model"],
        "auto_ndcg@10": auto["ndcg@10"],
        "auto_ci95": auto["ci95"]["ndcg@10"],
        "pop_ndcg@10": pop["ndcg@10"],
        "lift_vs_pop": round(auto["ndcg@10"] / pop["ndcg@10"] - 1, 4),
        "best_external": best_ext["model"],
        "best_external_ndcg@10": best_ext["ndcg@10"],
        "best_external_ci95": best_ext["ci95"]["ndcg@10"],
        "auto_ge_best_external": auto["ndcg@10"] >= best_ext["ndcg@10"],
    }
    return {
        "users": inter.n_users,
        "items": inter.n_items,
        "pairs": len(inter),
        "split": "leave-last-out",
        "test_users": int(len(test.test_users)),
        "rows": rows,
        "summary": summary,
    }


# -- scale ------------------------------------------------------------------------------------------


def synthetic_csv(
    path: Path, n_users: int = 50_000, n_items: int = 100_000, n_pairs: int = 1_000_000, seed: int = 0
) -> None:
    """Exactly n_pairs unique user-item interactions; every item occurs. Zipf item popularity plus 500
    taste clusters of 200 items (80% of a user's events come from their cluster, Zipf within it)."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop /= pop.sum()
    n_clusters = 500
    cluster_items = rng.permutation(n_items).reshape(n_clusters, -1)
    user_cluster = rng.integers(0, n_clusters, n_users)
    n_draw = int(n_pairs * 1.35)
    users = rng.integers(0, n_users, n_draw)
    zipf_in = 1.0 / np.arange(1, cluster_items.shape[1] + 1)
    zipf_in /= zipf_in.sum()
    pick = rng.choice(cluster_items.shape[1], n_draw, p=zipf_in)
    items = np.where(
        rng.random(n_draw) < 0.8, cluster_items[user_cluster[users], pick], rng.choice(n_items, n_draw, p=pop)
    )
    items[:n_items] = rng.permutation(n_items)  # every item at least once
    _, first = np.unique(users.astype(np.int64) * n_items + items, return_index=True)
    keep = np.sort(first)[:n_pairs]
    if len(keep) < n_pairs:
        raise RuntimeError("synthetic generator produced too few unique pairs")
    users, items = users[keep], items[keep]
    ts = 1_600_000_000 + np.sort(rng.integers(0, 86400 * 365, n_pairs))
    with path.open("w", encoding="utf-8") as f:
        f.write("user,item,timestamp\n")
        f.writelines(
            f"u{u},i{i},{t}\n" for u, i, t in zip(users.tolist(), items.tolist(), ts.tolist(), strict=True)
        )


CHILD = """
import json, os, resource, sys, time
import numpy as np
sys.path.insert(0, {src!r})
from inhouse.apps.recommend import api


def peak_mb():
    # VmHWM is this process's own peak; ru_maxrss can carry the parent's peak across fork/exec.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


t0 = time.perf_counter()
res = api.train("scale", {csv!r}, model={model!r}, params={params!r})
train_s = time.perf_counter() - t0
rec = api.load("scale")
rng = np.random.default_rng(0)
users = [rec.user_ids[u] for u in rng.choice(len(rec.user_ids), 500, replace=False)]
api.recommend_user("scale", users[0], 10)
lat = []
for u in users:
    t = time.perf_counter(); api.recommend_user("scale", u, 10); lat.append(time.perf_counter() - t)
t = time.perf_counter(); r = api.recommend_user("scale", "no-such-user", 10); cold_ms = (time.perf_counter() - t) * 1000
print(json.dumps({{"model": {model!r}, "train_s": round(train_s, 1), "fit_s": res["fit_seconds"],
    "peak_rss_mb": peak_mb(),
    "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 2), "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 2),
    "cold_user_ms": round(cold_ms, 2), "users": res["users"], "items": res["items"], "pairs": res["pairs"]}}))
"""


def run_scale(tmp: Path) -> dict:
    csv = tmp / "synthetic_1m.csv"
    t0 = time.perf_counter()
    synthetic_csv(csv)
    console.print(f"[bold]scale[/]: synthetic CSV written in {time.perf_counter() - t0:.1f}s")
    out = {"rows": []}
    for model, params in (("itemknn", {"k": 50}), ("seq", {}), ("ials", {"factors": 64, "iterations": 10})):
        env = {**os.environ, "INHOUSE_HOME": str(tmp / f"home-{model}")}
        code = CHILD.format(src=str(ROOT / "src"), csv=str(csv), model=model, params=params)
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scale run {model} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        out["rows"].append(row)
        console.print(f"  {row}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="ml-100k,beauty,scale")
    ap.add_argument(
        "--no-ease", action="store_true", help="skip EASE (dense items² inverse) on the real data"
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    models = tuple(m for m in OURS if not (args.no_ease and m == "ease"))
    results: dict = {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "cpus": os.cpu_count(),
        "datasets": {},
    }
    t0 = time.perf_counter()
    if "ml-100k" in only:
        results["datasets"]["ml-100k"] = run_dataset("MovieLens-100K", load_ml100k(), models)
    if "beauty" in only:
        results["datasets"]["beauty"] = run_dataset("Amazon Beauty (5-core)", load_beauty(), models)
    if "scale" in only:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            results["scale"] = run_scale(Path(tmp))
    results["total_s"] = round(time.perf_counter() - t0, 1)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    dest = ROOT / "bench" / "results" / "recs.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():  # keep sections of an earlier run that this run did not redo
        old = json.loads(dest.read_text("utf-8"))
        results["datasets"] = {**old.get("datasets", {}), **results["datasets"]}
        results.setdefault("scale", old.get("scale"))
    atomic_write_json(dest, results, indent=1)
    print_tables(results)


def print_tables(results: dict) -> None:
    for name, ds in results["datasets"].items():
        t = Table(
            "model",
            "val NDCG@10",
            "NDCG@10 [95% CI]",
            "Recall@20",
            "MRR",
            "coverage",
            "pop bias",
            "fit s",
            "tune s",
            "recs/s",
            "p95 ms",
            title=f"{name}: {ds['test_users']} test users, leave-last-out, full ranking",
        )
        for r in ds["rows"]:
            ci = r["ci95"]["ndcg@10"]
            t.add_row(
                r["model"],
                f"{r['val_ndcg@10']:.4f}",
                f"{r['ndcg@10']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]",
                f"{r['recall@20']:.4f}",
                f"{r['mrr']:.4f}",
                f"{r['coverage']:.3f}",
                f"{r['pop_bias']:.2f}",
                f"{r['fit_s']:.1f}",
                f"{r['tune_s']:.0f}",
                f"{r['recs_per_s_batch']:.0f}",
                "" if r["latency_p95_ms"] is None else f"{r['latency_p95_ms']:.1f}",
            )
        console.print(t)
        s = ds["summary"]
        console.print(
            f"auto → {s['auto_pick']}: NDCG@10 {s['auto_ndcg@10']:.4f} = {s['lift_vs_pop'] * 100:+.0f}% vs popularity; "
            f"best external {s['best_external']} {s['best_external_ndcg@10']:.4f}; "
            f"auto ≥ best external: {s['auto_ge_best_external']}"
        )
    if results.get("scale"):
        t = Table(
            "model",
            "users",
            "items",
            "pairs",
            "train s",
            "fit s",
            "peak RSS MB",
            "p50 ms",
            "p95 ms",
            "cold user ms",
            title="Scale: synthetic 1M interactions, 100k items",
        )
        for r in results["scale"]["rows"]:
            t.add_row(
                r["model"],
                str(r["users"]),
                str(r["items"]),
                str(r["pairs"]),
                f"{r['train_s']:.1f}",
                f"{r['fit_s']:.1f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p95_ms']:.2f}",
                f"{r['cold_user_ms']:.2f}",
            )
        console.print(t)


if __name__ == "__main__":
    main()
