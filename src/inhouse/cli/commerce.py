"""`inhouse commerce …`: a shop's order database, the delivery/return inquiry agent, review summaries, its catalog
and search by what a shopper means."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click
from rich.table import Table

from inhouse.apps.commerce import AGENT_CONTEXT
from inhouse.apps.commerce.agent import TicketAgent, policy_lookup
from inhouse.apps.commerce.catalog import open_catalog, read_catalog
from inhouse.apps.commerce.copy import features_of, siblings_of, write_copy
from inhouse.apps.commerce.desk import Desk, Proposal
from inhouse.apps.commerce.orders import open_shop
from inhouse.apps.commerce.reviews import (
    POLARITIES,
    Aspect,
    Polarity,
    aspect_terms,
    mine_aspects,
    open_reviews,
    read_reviews,
    reviews_if_any,
    star_examples,
    views,
)
from inhouse.apps.commerce.search import CatalogSearch, QueryReader
from inhouse.apps.commerce.tau import load_shop
from inhouse.cli.common import emit_json, err, out, progress_bar
from inhouse.config import load_settings, tenant_dir
from inhouse.errors import InputError, NotFoundError
from inhouse.models.embedders import load_embedder
from inhouse.models.registry import Registry
from inhouse.store import open_store


def _tenant(f):
    return click.option("--tenant", required=True, help="the shop (tenant) whose orders these are")(f)


def _json(f):
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")(f)


@click.group("commerce")
def commerce() -> None:
    """A shop's orders, the agent that answers delivery, return and exchange requests, review summaries, its
    catalog and search."""


@commerce.command("load")
@_tenant
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="replace the shop's orders already loaded")
@_json
def load(tenant: str, folder: Path, replace: bool, as_json: bool) -> None:
    """Load FOLDER's users.json, orders.json and products.json (τ-bench retail's format) in one transaction."""
    tenant_dir("commerce", tenant)  # a bad tenant name is the first error, before the files are read
    users, orders, products = load_shop(folder)
    db = open_shop(tenant, create=True)
    try:
        counts = db.load(users, orders, products, replace=replace)
    finally:
        db.close()
    if as_json:
        emit_json({"tenant": tenant, **counts})
    else:
        out.print(f"tenant {tenant}: {counts['users']} customers, {counts['orders']} orders, "
                  f"{counts['products']} products loaded")


@commerce.command("names")
@_tenant
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", default="ko", show_default=True, help="the customers' language of these names")
@_json
def names(tenant: str, path: Path, lang: str, as_json: bool) -> None:
    """The shop's product names, option names and values as customers see them in another language (JSON:
    {"products": {"Water Bottle": "물병"}, "options": {...}, "values": {"red": "레드"}}); the agent reads tickets in
    that language with them. Replaces that language's names in one transaction."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not UTF-8 JSON ({e}).") from e
    db = open_shop(tenant)
    try:
        count = db.load_names(data, lang)
    finally:
        db.close()
    if as_json:
        emit_json({"tenant": tenant, "lang": lang, "names": count})
    else:
        out.print(f"tenant {tenant}: {count} {lang} names loaded")


@commerce.command("order")
@_tenant
@click.argument("order_id")
@_json
def order(tenant: str, order_id: str, as_json: bool) -> None:
    """Show one order (an operator's view: no identity check)."""
    db = open_shop(tenant)
    found = db.order(order_id)
    if found is None:
        raise NotFoundError(f"no order {order_id!r} in tenant {tenant}'s shop (order ids look like '#W0000000').")
    if as_json:
        emit_json(found)
        return
    out.print(f"[bold]{order_id}[/bold] {found['status']} — customer {found['user_id']}")
    for it in found["items"]:
        options = ", ".join(f"{k}: {v}" for k, v in it["options"].items())
        out.print(f"  {it['item_id']}  {it['name']} ({options})  ${it['price']:,.2f}", highlight=False)
    for p in found["payment_history"]:
        out.print(f"  {p['transaction_type']} ${p['amount']:,.2f} via {p['payment_method_id']}", highlight=False)


def _asker(yes: bool):  # noqa: ANN202 - Callable[[Proposal], bool]
    def confirm(p: Proposal) -> bool:
        if yes:
            err.print(f"[dim]confirmed (--yes):[/dim] {p.summary}", highlight=False)
            return True
        if not sys.stdin.isatty():
            err.print(f"[yellow]not confirmed (no terminal; pass --yes):[/yellow] {p.summary}", highlight=False)
            return False
        return click.confirm(f"{p.summary} Proceed?", default=False, err=True)

    return confirm


@commerce.command("ticket")
@_tenant
@click.argument("message", required=False)
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="read the customer's message from a file")
@click.option("--model", default=None, help="registered model name (default: settings/registry default)")
@click.option("--yes", is_flag=True, help="the customer has confirmed: commit every proposed change")
@_json
def ticket(tenant: str, message: str | None, path: Path | None, model: str | None, yes: bool,
           as_json: bool) -> None:
    """Handle a customer's MESSAGE (English or Korean): identify the customer, read their orders, propose the
    changes asked for (each confirmed before it commits) and reply, each line citing the tenant's policy
    documents that customers may read (those ingested without groups). Every step is in the shop's audit log."""
    if (message is None) == (path is None):
        raise InputError("give the customer's message as an argument or with --file, not both.")
    text = message if message is not None else path.read_text("utf-8")  # type: ignore[union-attr]
    db = open_shop(tenant)
    settings = load_settings()
    settings = dataclasses.replace(settings, n_ctx=max(settings.n_ctx, AGENT_CONTEXT))
    chat = Registry().choose(settings, model, "", tenant).chat(settings)
    desk = Desk(db, confirm=_asker(yes), actor="agent")
    store = open_store()
    try:
        policy = policy_lookup(store, tenant, settings, load_embedder(settings.embedder))
        outcome = TicketAgent(chat, policy=policy).handle(text, desk)
    finally:
        store.close()
    if as_json:
        emit_json({"tenant": tenant, "session": desk.session, "model": chat.name, **outcome.to_dict()})
        return
    for s in outcome.steps:
        if s.kind == "tool":
            out.print(f"[dim]→ {s.name} {json.dumps(s.args, ensure_ascii=False)[:120]}[/dim]", highlight=False)
    out.print(outcome.reply, highlight=False)
    out.print(f"[dim]session {desk.session} · {outcome.seconds:.0f} s · {chat.name}[/dim]")


@commerce.command("audit")
@_tenant
@click.option("--session", default=None, help="one conversation's entries")
@click.option("--limit", type=int, default=50, show_default=True)
@_json
def audit(tenant: str, session: str | None, limit: int, as_json: bool) -> None:
    """The shop's append-only audit log: every lookup, refusal, proposal declined and change committed."""
    rows = open_shop(tenant).audit(session)[-limit:]
    if as_json:
        for r in rows:
            emit_json(r)
        return
    table = Table("id", "session", "actor", "action", "outcome", "detail")
    for r in rows:
        table.add_row(str(r["id"]), r["session"], r["actor"], r["action"], r["outcome"], r["detail"][:60])
    out.print(table)


# ---- reviews ----------------------------------------------------------------------------------------------

MIN_EXAMPLES = 20  # of each polarity, to train a shop's opinion classifier from its stars


@commerce.group("reviews")
def reviews() -> None:
    """A shop's reviews: aspects, pros and cons with counts and quotes, per product."""


def _mapping(values: tuple[str, ...]) -> dict[str, str]:
    out_map = {}
    for v in values:
        key, sep, column = v.partition("=")
        if not sep or not key.strip() or not column.strip():
            raise InputError(f"--map {v!r}: write FIELD=COLUMN, e.g. --map text=review_body.")
        out_map[key.strip()] = column.strip()
    return out_map


@reviews.command("add")
@_tenant
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--product", default=None, help="the product every row reviews, when the file has no product column")
@click.option("--stars-max", type=float, default=5.0, show_default=True, help="the file's star scale (e.g. 100)")
@click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN",
              help="which column holds text, stars, product_id, review_id or date (repeatable)")
@_json
def reviews_add(tenant: str, file: Path, product: str | None, stars_max: float, maps: tuple[str, ...],
                as_json: bool) -> None:
    """Add (or update) reviews from a CSV/TSV, JSONL or XLSX FILE, all in one transaction."""
    tenant_dir("commerce", tenant)
    rows = read_reviews(file, product=product, stars_max=stars_max, mapping=_mapping(maps))
    store = open_reviews(tenant, create=True)
    counts = store.add(rows)
    if as_json:
        emit_json({"tenant": tenant, **counts, "reviews": store.count(), "pending": store.pending()})
    else:
        out.print(f"tenant {tenant}: {counts['new']} new, {counts['changed']} changed, {counts['unchanged']} "
                  f"unchanged; {store.count()} reviews in all")


def _classifier_path(tenant: str) -> Path:
    return tenant_dir("commerce", tenant) / "opinions.json"


def _train(tenant: str, labelled: Path | None) -> dict:
    """Train and save the shop's opinion classifier; what it was trained on."""
    from inhouse.ingest.loaders import RECORD_READERS

    if labelled is None:
        store = open_reviews(tenant)
        aspects = store.aspects() or mine_aspects(store.texts())
        x, y = star_examples(list(store.iter_reviews()), aspects)
        source = f"{tenant}'s reviews labelled by their stars"
        short = {p: y.count(p) for p in ("positive", "negative") if y.count(p) < MIN_EXAMPLES}
        if short:
            counts = ", ".join(f"{n} {p}" for p, n in short.items())
            raise InputError(f"too few opinions to learn from the stars ({counts}; at least {MIN_EXAMPLES} each, "
                             "from 5-star and 1–2-star reviews). Add reviews or pass --labelled FILE.")
    else:
        reader = RECORD_READERS.get(labelled.suffix.lower())
        if reader is None:
            raise InputError(f"{labelled.name}: labelled opinions are read from .csv, .tsv, .jsonl or .xlsx files.")
        x, y = [], []
        for row, rec in reader(labelled.read_bytes(), labelled.name):
            text, aspect, label = (str(rec.get(k) or "").strip() for k in ("text", "aspect", "polarity"))
            if label not in POLARITIES or not text or not aspect or aspect.casefold() not in text.casefold():
                raise InputError(f"{labelled.name} row {row}: needs text, an aspect that occurs in it and a polarity "
                                 f"({', '.join(POLARITIES)}).")
            at = text.casefold().index(aspect.casefold())
            x.append(views(text, (0, len(text)), (at, at + len(aspect)), aspect))
            y.append(label)
        source = labelled.name
    # Stars are mostly five on most shops: without equal class weights the classifier calls nearly every
    # mention positive and finds almost no cons (bench/commerce_reviews.py measures both).
    head = Polarity(load_embedder("e5-small")).fit(x, y, trained_on=source, balanced=labelled is None)
    head.save(_classifier_path(tenant))
    return {"tenant": tenant, "examples": len(y), "classes": head.classes, "trained_on": source,
            "path": str(_classifier_path(tenant))}


@reviews.command("train")
@_tenant
@click.option("--labelled", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV/JSONL/XLSX of text, aspect and polarity (positive/negative/neutral) columns; "
                   "default: the shop's own reviews labelled by their stars")
@_json
def reviews_train(tenant: str, labelled: Path | None, as_json: bool) -> None:
    """Train the shop's opinion classifier (kept at commerce/<tenant>/opinions.json)."""
    info = _train(tenant, labelled)
    if as_json:
        emit_json(info)
    else:
        out.print(f"opinion classifier for {tenant}: {info['examples']} examples ({', '.join(info['classes'])}), "
                  f"from {info['trained_on']}")


@reviews.command("analyse")
@_tenant
@click.option("--aspects", "aspect_count", type=int, default=40, show_default=True,
              help="how many aspects to mine when the shop has none yet")
@_json
def reviews_analyse(tenant: str, aspect_count: int, as_json: bool) -> None:
    """Analyse new and changed reviews (aspects mined first if the shop has none; the classifier trained from
    the stars first if it has none). Resumable: an interrupted run keeps what it finished."""

    store = open_reviews(tenant)
    if not store.aspects():
        mined = mine_aspects(store.texts(), top=aspect_count)
        if not mined:
            raise InputError("no aspect is mentioned by enough reviews to mine; add reviews, or name the aspects: "
                             f"`inhouse commerce reviews aspects --tenant {tenant} --set 배터리,battery,…`.")
        store.set_aspects(mined)
    trained = None if _classifier_path(tenant).exists() else _train(tenant, None)
    head = Polarity.load(_classifier_path(tenant), load_embedder("e5-small"))
    total = store.pending()
    with progress_bar(not as_json) as update:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            update("Analysing reviews", done[0], total)

        n = store.analyse(head, progress=step)
    info = {"tenant": tenant, "analysed": n, "reviews": store.count(), "aspects": [a.name for a in store.aspects()],
            "trained": trained}
    if as_json:
        emit_json(info)
    else:
        if trained:
            out.print(f"opinion classifier trained on {trained['examples']} examples from {trained['trained_on']}")
        out.print(f"{n} reviews analysed; aspects: {', '.join(info['aspects'][:15])}"
                  f"{' …' if len(info['aspects']) > 15 else ''}")


@reviews.command("aspects")
@_tenant
@click.option("--set", "names", default=None, help="comma-separated aspects to use instead of the mined ones")
@click.option("--mine", "mine", is_flag=True, help="mine the aspects again from all the reviews")
@click.option("--top", type=int, default=40, show_default=True, help="how many to mine")
@_json
def reviews_aspects(tenant: str, names: str | None, mine: bool, top: int, as_json: bool) -> None:
    """Show the shop's aspects, set them (--set), or mine them again (--mine). A change re-analyses every review."""
    store = open_reviews(tenant)
    if names is not None and mine:
        raise InputError("give --set or --mine, not both.")
    if names is not None:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        store.set_aspects([Aspect(n, aspect_terms(n)) for n in dict.fromkeys(wanted)])
    elif mine:
        store.set_aspects(mine_aspects(store.texts(), top=top))
    found = [a.to_dict() for a in store.aspects()]
    if as_json:
        emit_json({"tenant": tenant, "aspects": found, "pending": store.pending()})
    else:
        out.print(", ".join(a["name"] for a in found) or "no aspects yet (`reviews analyse` mines them)")


@reviews.command("products")
@_tenant
@_json
def reviews_products(tenant: str, as_json: bool) -> None:
    """The reviewed products, most reviewed first."""
    rows = open_reviews(tenant).products()
    if as_json:
        emit_json(rows)
        return
    table = Table("product", "reviews", "stars")
    for r in rows:
        table.add_row(r["product_id"], str(r["reviews"]), "" if r["stars"] is None else f"{r['stars']:.2f}")
    out.print(table)


@reviews.command("summary")
@_tenant
@click.argument("product")
@click.option("--quotes", type=int, default=3, show_default=True, help="pros and cons quoted per aspect")
@click.option("--top", type=int, default=10, show_default=True, help="aspects shown")
@_json
def reviews_summary(tenant: str, product: str, quotes: int, top: int, as_json: bool) -> None:
    """PRODUCT's aspects with positive/negative counts and quotes from its reviews."""
    summary = open_reviews(tenant).summary(product, quotes=quotes)
    summary.aspects = summary.aspects[:top]
    if as_json:
        emit_json(summary.to_dict())
        return
    stars = "" if summary.stars is None else f", {summary.stars:.1f}★"
    out.print(f"[bold]{product}[/bold] — {summary.reviews} reviews{stars}")
    for a in summary.aspects:
        out.print(f"\n[bold]{a.aspect}[/bold]  +{a.positive} −{a.negative} ·{a.neutral}", highlight=False)
        for q in a.pros:
            out.print(f"  [green]+[/green] “{q.text}” [dim]({q.review_id})[/dim]", highlight=False)
        for q in a.cons:
            out.print(f"  [red]−[/red] “{q.text}” [dim]({q.review_id})[/dim]", highlight=False)


# ---------------------------------------------------------------------------------------------------- catalog

@commerce.group("catalog")
def catalog() -> None:
    """A shop's products and items (variants with spec options, prices, stock)."""


@catalog.command("add")
@_tenant
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="replace the shop's catalog instead of adding to it")
@_json
def catalog_add(tenant: str, file: Path, replace: bool, as_json: bool) -> None:
    """Add (or update) products and items from a JSON, CSV/TSV, JSONL or XLSX FILE, all in one transaction."""
    products, items = read_catalog(file)
    store = open_catalog(tenant, create=True)
    counts = store.add(products, items, replace=replace)
    n_products, n_items = store.count()
    if as_json:
        emit_json({"tenant": tenant, **counts, "catalog": {"products": n_products, "items": n_items}})
    else:
        out.print(f"tenant {tenant}: {counts['products']} products, {counts['items']} items read "
                  f"({counts['new_items']} new); {n_products} products, {n_items} items in the catalog")


@commerce.command("search")
@_tenant
@click.argument("query")
@click.option("-k", "k", type=int, default=10, show_default=True, help="how many items")
@click.option("--model", default=None, help="registered model that reads the query (default: the tenant's)")
@click.option("--fast", is_flag=True, help="no model: embeddings, words and filters only")
@_json
def search(tenant: str, query: str, k: int, model: str | None, fast: bool, as_json: bool) -> None:
    """Items of the shop's catalog for QUERY ("조용한 공기청정기 원룸용", "waterproof boots under $250"), each with
    the spec values and review aspects that matched."""

    if k < 1:
        raise InputError("-k must be at least 1.")
    store = open_catalog(tenant)
    reviews = reviews_if_any(tenant)
    reader = None
    if not fast:
        settings = load_settings()
        reader = QueryReader(Registry().choose(settings, model, "", tenant).chat(settings))
    engine = CatalogSearch(store, load_embedder("e5-small"), reviews=reviews, reader=reader)
    parsed, hits = engine.search(query, k=k)
    if as_json:
        emit_json({"tenant": tenant, "query": query, "min_price": parsed.min_price, "max_price": parsed.max_price,
                   "hits": [h.to_dict() for h in hits]})
        return
    table = Table(title=f"{query}" + (f"  (price {parsed.min_price or 0:g}–{parsed.max_price or '∞'})"
                                      if parsed.min_price or parsed.max_price else ""))
    for col in ("item", "product", "options", "price", "why"):
        table.add_column(col)
    for h in hits:
        why = "; ".join(f"{w['option']}={w['value']}" if w["source"] == "spec" else
                        f"reviews: {w['aspect']} +{w['positive']} −{w['negative']}" for w in h.why)
        table.add_row(h.item.item_id, h.product.name, ", ".join(f"{a}: {b}" for a, b in h.item.options.items()),
                      "" if h.item.price is None else f"{h.item.price:,.2f}" + ("" if h.item.available else " (out)"),
                      why)
    out.print(table)


@commerce.command("copy")
@_tenant
@click.argument("item_id")
@click.option("--lang", type=click.Choice(["ko", "en"]), default="ko", show_default=True)
@click.option("--tone", default="", help="the shop's tone, in a few words (e.g. '친근하게, 짧게')")
@click.option("--model", default=None, help="registered model name (default: the tenant's)")
@_json
def copy_(tenant: str, item_id: str, lang: str, tone: str, model: str | None, as_json: bool) -> None:
    """A description of ITEM_ID from its spec: every sentence checked against the spec, the unsupported ones
    removed, a spec line for what the rest leaves out."""
    store = open_catalog(tenant)
    items = store.items()
    item = next((it for it in items if it.item_id == item_id), None)
    if item is None:
        raise NotFoundError(f"no item {item_id!r} in tenant {tenant}'s catalog.")
    product = store.products()[item.product_id]
    settings = load_settings()
    chat = Registry().choose(settings, model, "", tenant).chat(settings)
    result = write_copy(chat, product, item, siblings_of(items, item.product_id),
                        features_of(items, item.product_id), lang=lang, tone=tone)
    if as_json:
        emit_json({"tenant": tenant, "model": chat.name, **result.to_dict()})
        return
    out.print(result.text, highlight=False)
    for s in result.sentences:
        if not s.kept:
            out.print(f"[dim]removed: “{s.text}” — {'; '.join(s.reasons)}[/dim]", highlight=False)
