"""`inhouse recs …`: per-shop recommendations (train, eval, user, similar, update, versions, rollback)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from inhouse.apps.recommend import api
from inhouse.cli.common import emit_json, err, out, progress_bar
from inhouse.errors import InputError

MODEL_CHOICES = ["auto", "pop", "itemknn", "ease", "ials", "seq"]


def _tenant(f):
    return click.option("--tenant", required=True, help="shop (tenant) whose model is used")(f)


def _json(f):
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")(f)


def _report_rows(report: dict, label: str) -> None:
    err.print(
        f"{label}: {report['rows']} rows, {report['accepted']} accepted, "
        f"{report['duplicates']} duplicates counted once, {report['malformed']} malformed"
    )
    for m in report["malformed_lines"][:10]:
        err.print(f"  line {m['line']}: {m['reason']}")
    if report["malformed"] > 10:
        err.print(f"  … {report['malformed'] - 10} more malformed rows")
    if report["duplicate_lines"]:
        lines = ", ".join(map(str, report["duplicate_lines"][:10]))
        err.print(f"  duplicate lines: {lines}{' …' if report['duplicates'] > 10 else ''}")


@click.group("recs")
def recs() -> None:
    """Per-shop recommendations trained only on that shop's interactions."""


@recs.command("train")
@_tenant
@click.option(
    "--interactions",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="events CSV/TSV/JSONL: user, item, timestamp[, event, weight]",
)
@click.option(
    "--items",
    type=click.Path(dir_okay=False, path_type=Path),
    help="catalog CSV/JSONL (item id + text) for cold-start items",
)
@click.option("--model", type=click.Choice(MODEL_CHOICES), default="auto", show_default=True)
@click.option(
    "--params", default=None, help="fixed model parameters as JSON (skips tuning), e.g. '{\"l2\": 500}'"
)
@click.option(
    "--embedder", default="auto", show_default=True, help="catalog text embedder: auto, hash or e5-small"
)
@_json
def train_cmd(
    tenant: str,
    interactions: Path,
    items: Path | None,
    model: str,
    params: str | None,
    embedder: str,
    as_json: bool,
) -> None:
    """Train (tune on validation, fit on everything) and make the model the tenant's current version."""
    try:
        fixed = json.loads(params) if params else None
    except json.JSONDecodeError as e:
        raise InputError(f"--params is not valid JSON: {e}") from e
    if fixed is not None and not isinstance(fixed, dict):
        raise InputError('--params must be a JSON object such as {"k": 100}.')
    with progress_bar(not as_json) as progress:
        res = api.train(
            tenant, interactions, items, model=model, params=fixed, embedder=embedder, progress=progress
        )
    if as_json:
        emit_json(res)
        return
    if res["tuning"]:
        t = Table(
            "model",
            "validation NDCG@10",
            "params",
            "tuning s",
            title="Validation (each user's second-to-last item)",
        )
        for r in res["tuning"]:
            t.add_row(r["model"], f"{r['val_ndcg@10']:.4f}", json.dumps(r["params"]), f"{r['seconds']:.1f}")
        out.print(t)
    _report_rows(res["load_report"], "interactions")
    if res.get("catalog_report"):
        _report_rows(res["catalog_report"], "catalog")
    out.print(
        f"tenant {tenant}: version {res['version']} · model [bold]{res['model']}[/] · {res['users']} users, "
        f"{res['items']} items, {res['pairs']} pairs · {res['cold_items']} cold catalog items · "
        f"{res['train_seconds']} s"
    )


@recs.command("eval")
@_tenant
@click.option(
    "--split", type=click.Choice(["leave-last-out", "temporal"]), default="leave-last-out", show_default=True
)
@click.option(
    "--test-fraction",
    type=float,
    default=0.1,
    show_default=True,
    help="temporal split: share of latest pairs held out",
)
@click.option(
    "--bootstrap",
    type=int,
    default=1000,
    show_default=True,
    help="bootstrap resamples for 95% intervals (0: none)",
)
@_json
def eval_cmd(tenant: str, split: str, test_fraction: float, bootstrap: int, as_json: bool) -> None:
    """Full-ranking evaluation of the current model's configuration vs popularity."""
    with progress_bar(not as_json) as progress:
        res = api.evaluate(
            tenant, split=split, test_fraction=test_fraction, n_boot=bootstrap, progress=progress
        )
    if as_json:
        emit_json(res)
        return
    t = Table(
        "metric",
        res["model"],
        "95% CI",
        "popularity",
        title=f"{res['split']} · {res['users']} users · all items ranked",
    )
    for k, v in res["metrics"].items():
        ci = res["metrics_ci95"].get(k)
        t.add_row(k, f"{v:.4f}", f"{ci[0]:.4f}–{ci[1]:.4f}" if ci else "", f"{res['baseline_pop'][k]:.4f}")
    out.print(t)
    if res["lift_ndcg@10"] is not None:
        out.print(f"NDCG@10 vs popularity: {res['lift_ndcg@10'] * 100:+.1f}%")


def _print_items(title: str, items: list[dict], because: bool) -> None:
    t = Table("#", "item", "score", *(["because you viewed"] if because else []), "source", title=title)
    for n, it in enumerate(items, 1):
        extra = [", ".join(it.get("because", []))] if because else []
        t.add_row(str(n), it["item"], f"{it['score']:.4f}", *extra, it.get("source", "interactions"))
    out.print(t)


@recs.command("user")
@click.argument("user")
@_tenant
@click.option("--k", type=click.IntRange(1, 1000), default=10, show_default=True)
@_json
def user_cmd(user: str, tenant: str, k: int, as_json: bool) -> None:
    """Top-k items for USER, with "because you viewed" explanations."""
    res = api.recommend_user(tenant, user, k)
    if as_json:
        emit_json(res)
        return
    title = f"{user} · {res['model']} v{res['version']}" + (
        " · unknown user: popular items" if res["cold_start"] else ""
    )
    _print_items(title, res["items"], because=True)


@recs.command("similar")
@click.argument("item")
@_tenant
@click.option("--k", type=click.IntRange(1, 1000), default=10, show_default=True)
@_json
def similar_cmd(item: str, tenant: str, k: int, as_json: bool) -> None:
    """Items most similar to ITEM (co-interactions; catalog text for cold items)."""
    res = api.similar_items(tenant, item, k)
    if as_json:
        emit_json(res)
        return
    _print_items(f"similar to {item} ({res['source']})", res["items"], because=False)


@recs.command("update")
@_tenant
@click.option("--interactions", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_json
def update_cmd(tenant: str, interactions: Path, as_json: bool) -> None:
    """Fold new interactions into the current model without retraining (a new version)."""
    res = api.fold_in(tenant, interactions)
    if as_json:
        emit_json(res)
        return
    _report_rows(res["load_report"], "interactions")
    out.print(
        f"tenant {tenant}: version {res['version']} · +{res['new_pairs']} pairs, +{res['new_users']} users, "
        f"+{res['new_items']} items"
    )


@recs.command("versions")
@_tenant
@_json
def versions_cmd(tenant: str, as_json: bool) -> None:
    """List the tenant's model versions."""
    res = api.versions(tenant)
    if as_json:
        emit_json(res)
        return
    t = Table("version", "current", "model", "created", "users", "items", "pairs", "folded into")
    for v in res["versions"]:
        t.add_row(
            str(v["version"]),
            "*" if v["current"] else "",
            v["model"],
            v["created"],
            str(v["users"]),
            str(v["items"]),
            str(v["pairs"]),
            str(v["base_version"] or ""),
        )
    out.print(t)


@recs.command("rollback")
@_tenant
@click.option("--to", "to", type=int, default=None, help="version number (default: the previous one)")
@_json
def rollback_cmd(tenant: str, to: int | None, as_json: bool) -> None:
    """Make an earlier model version current."""
    res = api.rollback(tenant, to)
    if as_json:
        emit_json(res)
        return
    out.print(f"tenant {tenant}: current version {res['from']} → {res['current']}")
