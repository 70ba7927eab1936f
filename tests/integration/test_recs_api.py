"""The recommendation engine end to end through its public API and the `recs` CLI group.

Real data: a slice of MovieLens-100K (the first 120 users); synthetic data for cold start and fold-in.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from inhouse.apps.recommend import api
from inhouse.cli.recs import recs
from inhouse.errors import InHouseError, InputError, NotFoundError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "recsys" / "ml-100k"


@pytest.fixture(scope="module")
def ml_slice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Events of MovieLens users 1-120 as CSV (plus a malformed row and a duplicate), and the movie catalog."""
    d = tmp_path_factory.mktemp("ml")
    rows = []
    with (DATA / "ml-100k.inter").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            u, i, _, t = line.rstrip("\n").split("\t")
            if int(u) <= 120:
                rows.append((u, i, t))
    events = d / "events.csv"
    with events.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "timestamp"])
        w.writerows(rows)
        w.writerow(["7", "", "5"])  # malformed: empty item
        w.writerow(rows[0])  # duplicate event
    items = d / "items.csv"
    with (
        (DATA / "ml-100k.item").open(encoding="utf-8", errors="replace") as f,
        items.open("w", encoding="utf-8", newline="") as g,
    ):
        next(f)
        w = csv.writer(g)
        w.writerow(["item", "title", "genres"])
        for line in f:
            parts = line.rstrip("\n").split("\t")
            w.writerow([parts[0], parts[1], parts[3] if len(parts) > 3 else ""])
        w.writerow(["new-toy", "Toy Story 4", "Animation Children's Comedy"])  # never interacted with
    return events, items


def cli(*args: str) -> str:
    """Run `recs …` in-process; domain errors propagate (the main CLI prints them without a traceback)."""
    result = CliRunner().invoke(recs, list(args), catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_eval_user_similar_on_movielens_slice(ml_slice):
    events, items = ml_slice
    res = json.loads(
        cli(
            "train",
            "--tenant",
            "ml",
            "--interactions",
            str(events),
            "--items",
            str(items),
            "--model",
            "itemknn",
            "--params",
            '{"k": 50}',
            "--embedder",
            "hash",
            "--json",
        )
    )
    assert res["version"] == 1 and res["model"] == "itemknn" and res["users"] == 120
    rep = res["load_report"]
    assert (
        rep["duplicates"] == 1
        and rep["malformed"] == 1
        and rep["malformed_lines"][0]["reason"] == "empty item"
    )
    assert (
        res["cold_items"] == 1683 - res["items"] and res["embedder"] == "hash"
    )  # movies no sliced user saw + new-toy

    ev = json.loads(cli("eval", "--tenant", "ml", "--bootstrap", "100", "--json"))
    assert ev["split"] == "leave-last-out" and ev["users"] == 120
    for key in ("ndcg@10", "recall@20", "mrr", "coverage"):
        assert 0 <= ev["metrics"][key] <= 1 and 0 <= ev["baseline_pop"][key] <= 1
    lo, hi = ev["metrics_ci95"]["ndcg@10"]
    assert lo <= ev["metrics"]["ndcg@10"] <= hi
    tmp = json.loads(cli("eval", "--tenant", "ml", "--split", "temporal", "--bootstrap", "0", "--json"))
    assert tmp["split"] == "temporal" and tmp["users"] > 0

    rec = json.loads(cli("user", "1", "--tenant", "ml", "--k", "10", "--json"))
    assert rec["user"] == "1" and len(rec["items"]) == 10 and not rec["cold_start"]
    seen = set()
    with events.open() as f:
        seen = {r["item"] for r in csv.DictReader(f) if r["user"] == "1"}
    assert not seen & {it["item"] for it in rec["items"] if it.get("source") != "content"}
    assert all(set(it) >= {"item", "score", "because"} for it in rec["items"])
    assert any(it["because"] for it in rec["items"]) and all(
        set(it["because"]) <= seen for it in rec["items"]
    )

    cold = json.loads(cli("user", "nobody", "--tenant", "ml", "--k", "5", "--json"))
    assert cold["cold_start"] and len(cold["items"]) == 5 and all(it["because"] == [] for it in cold["items"])

    sim = json.loads(cli("similar", "1", "--tenant", "ml", "--k", "5", "--json"))
    assert (
        sim["source"] == "interactions"
        and len(sim["items"]) == 5
        and "1" not in {i["item"] for i in sim["items"]}
    )
    new = json.loads(cli("similar", "new-toy", "--tenant", "ml", "--k", "3", "--json"))
    assert new["source"] == "content" and new["items"][0]["item"] == "1"  # Toy Story, by catalog text

    # Tables (no --json) render too.
    assert "because you viewed" in cli("user", "1", "--tenant", "ml", "--k", "3")
    assert "ndcg@10" in cli("eval", "--tenant", "ml", "--bootstrap", "0")


def test_auto_picks_a_model_by_validation_and_beats_popularity(tmp_path: Path):
    """Planted data: users walk one of 4 item cycles; a popular item is seen by everybody."""
    path = tmp_path / "e.csv"
    with path.open("w") as f:
        f.write("user,item,timestamp\n")
        t = 0
        for u in range(120):
            c = u % 4
            f.write(f"u{u},popular,{t}\n")
            for step in range(5):
                t += 1
                f.write(f"u{u},c{c}-{(u // 4 + step) % 12},{t}\n")
    res = api.train("walks", path)
    tried = {r["model"] for r in res["tuning"]}
    assert tried == {"pop", "itemknn", "ease", "ials", "seq"}
    best = max(res["tuning"], key=lambda r: r["val_ndcg@10"])
    assert res["model"] == best["model"] != "pop"
    ev = api.evaluate("walks", n_boot=0)
    assert ev["metrics"]["ndcg@10"] > 1.5 * ev["baseline_pop"]["ndcg@10"]


def test_fold_in_versions_rollback_and_cold_start_items(tmp_path: Path):
    base = tmp_path / "base.csv"
    base.write_text(
        "user,item,timestamp\n"
        + "".join(f"u{u},{'ab'[u % 2]}{(u + s) % 6},{u * 10 + s}\n" for u in range(30) for s in range(4)),
        "utf-8",
    )
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(
        "".join(
            json.dumps(
                {"item": f"{g}{i}", "title": f"{'garden hose' if g == 'a' else 'kitchen knife'} model {i}"}
            )
            + "\n"
            for g in "ab"
            for i in range(6)
        )
        + json.dumps({"item": "a-new", "title": "garden hose model deluxe"})
        + "\n",
        "utf-8",
    )
    api.train("shop", base, catalog, model="itemknn", embedder="hash")
    rec = api.recommend_user("shop", "u0", 5)
    content = [it for it in rec["items"] if it.get("source") == "content"]
    assert content and content[0]["item"] == "a-new" and content[0]["because"][0].startswith("a")

    new = tmp_path / "new.csv"
    new.write_text(
        "user,item,timestamp\nfresh,a1,1000\nfresh,a2,1001\nfresh,zz-unseen,1002\nu0,b5,1003\nbroken\n",
        "utf-8",
    )
    out = api.fold_in("shop", new)
    assert out["version"] == 2 and out["new_users"] == 1 and out["new_items"] == 1 and out["new_pairs"] == 4
    assert out["load_report"]["malformed_lines"][0]["line"] == 6
    fresh = api.recommend_user("shop", "fresh", 3)
    assert not fresh["cold_start"] and all(
        it["item"].startswith("a") for it in fresh["items"] if it.get("source") != "content"
    )
    assert "b5" not in {it["item"] for it in api.recommend_user("shop", "u0", 12)["items"]}
    v = api.versions("shop")
    assert (
        v["current"] == 2
        and [r["version"] for r in v["versions"]] == [1, 2]
        and v["versions"][1]["base_version"] == 1
    )
    assert json.loads(cli("rollback", "--tenant", "shop", "--json"))["current"] == 1
    assert api.recommend_user("shop", "fresh", 3)["cold_start"]
    assert json.loads(cli("versions", "--tenant", "shop", "--json"))["current"] == 1


def test_bad_input_errors(tmp_path: Path):
    events = tmp_path / "e.csv"
    events.write_text("user,item,timestamp\nu1,a,1\nu1,b,2\n", "utf-8")
    with pytest.raises(InputError, match="named model"):
        api.train("t", events, params={"k": 5})
    with pytest.raises(InputError, match="unknown model"):
        api.train("t", events, model="svd")
    with pytest.raises(NotFoundError, match="recs train"):
        cli("user", "x", "--tenant", "nothing-here", "--json")
    with pytest.raises(NotFoundError):
        cli("train", "--tenant", "t", "--interactions", "/no/such/file.csv")
    with pytest.raises(InputError, match="--params"):
        cli("train", "--tenant", "t", "--interactions", "x.csv", "--params", "{oops")
    with pytest.raises(InputError, match="tenant"):
        api.recommend_user("../etc", "u")
    assert issubclass(NotFoundError, InHouseError)


def test_similar_unknown_item(tmp_path: Path):
    p = tmp_path / "e.csv"
    p.write_text("user,item,timestamp\nu1,a,1\nu1,b,2\nu2,a,3\nu2,b,4\n", "utf-8")
    api.train("tiny", p, model="pop")
    with pytest.raises(NotFoundError, match="neither"):
        api.similar_items("tiny", "zzz")
    assert api.similar_items("tiny", "a", 3)["items"][0]["item"] == "b"
    assert isinstance(recs, click.Group) and recs.name == "recs"
