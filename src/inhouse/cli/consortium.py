"""`inhouse consortium …`: partners' contributions for training only; cleaning and dedup decisions, the token
ledger and revenue shares, withdrawals, training exports, and the copy filter."""

from __future__ import annotations

import random
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from inhouse.cli.common import emit_json, err, out, progress_bar
from inhouse.config import load_settings
from inhouse.consortium import Cleaner, copy_filter, open_consortium
from inhouse.consortium.canaries import audit, chat_lead, make
from inhouse.consortium.contribute import contribute, export
from inhouse.errors import InputError, NotFoundError
from inhouse.models.registry import Registry
from inhouse.models.tokenizer import Tokenizer


def _json(f):
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")(f)


@click.group("consortium")
def consortium() -> None:
    """Text that partners contribute for training only: never searchable, never quoted."""


@consortium.command("add")
@click.option("--partner", required=True, help="the contributing partner")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text-column", default=None, help="the column holding the text, for CSV/TSV/JSONL/XLSX files")
@click.option("--model", default=None, help="the model whose tokenizer counts tokens (default: the served one)")
@click.option("--min-chars", type=int, default=20, show_default=True, help="shorter texts are filtered")
@click.option("--threshold", type=float, default=0.4, show_default=True,
              help="estimated Jaccard similarity (character 4-grams) from which a text is a near-duplicate")
@_json
def add(partner: str, files: tuple[Path, ...], text_column: str | None, model: str | None, min_chars: int,
        threshold: float, as_json: bool) -> None:
    """Add FILES as contributions of PARTNER: each text cleaned, deduplicated against everything contributed so
    far, the kept ones counted in the served model's tokens and credited in the ledger (one transaction per
    file)."""
    if not 0.0 < threshold <= 1.0:
        raise InputError("--threshold must be in (0, 1].")
    name, path = Registry().resolve(model or load_settings().model or None)
    tokenizer = Tokenizer(path, name)
    db = open_consortium(create=True)
    results = []
    try:
        with progress_bar(not as_json) as progress:
            for f in files:
                results.append(contribute(db, partner, f, tokenizer.count, Cleaner(min_chars=min_chars),
                                          threshold=threshold, text_column=text_column, progress=progress))
    finally:
        db.close()
    if as_json:
        emit_json({"partner": partner, "tokenizer": name, "contributions": results})
        return
    table = Table("contribution", "file", "texts", "kept", "duplicate", "near-dup", "filtered", "tokens", "PII")
    for r in results:
        table.add_row(str(r["id"]), r["source"], str(r["texts"]), str(r["kept"]), str(r["duplicate"]),
                      str(r["near-duplicate"]), str(r["filtered"]), f"{r['tokens']:,}", str(r["pii_masked"]))
    out.print(table)
    out.print(f"[dim]tokens counted with {name}'s tokenizer[/dim]")


@consortium.command("list")
@click.option("--partner", default=None)
@_json
def list_(partner: str | None, as_json: bool) -> None:
    """Contributions, each with its partner, file and state."""
    db = open_consortium()
    try:
        rows = db.contributions(partner)
        decisions = db.decisions()
    finally:
        db.close()
    if as_json:
        emit_json({"contributions": rows, "decisions": decisions})
        return
    table = Table("id", "partner", "file", "added", "withdrawn")
    for r in rows:
        table.add_row(str(r["id"]), r["partner"], Text(r["source"]), r["added"], r["withdrawn"] or "")
    out.print(table)
    out.print(", ".join(f"{n} {d}" for d, n in decisions.items()))


@consortium.command("texts")
@click.argument("contribution", type=int)
@click.option("--decision", type=click.Choice(["kept", "duplicate", "near-duplicate", "filtered"]), default=None)
@_json
def texts(contribution: int, decision: str | None, as_json: bool) -> None:
    """Every text of one contribution with the decision made about it and why."""
    db = open_consortium()
    try:
        rows = [t for t in db.texts(contribution) if decision is None or t["decision"] == decision]
    finally:
        db.close()
    if as_json:
        emit_json({"contribution": contribution, "texts": rows})
        return
    table = Table("text", "decision", "reason", "tokens", "begins")
    for t in rows:
        table.add_row(str(t["id"]), t["decision"], Text(t["reason"]), str(t["tokens"]), Text(t["text"][:50]))
    out.print(table)


@consortium.command("report")
@click.option("--period", required=True, help="the month, YYYY-MM")
@click.option("--revenue", type=int, required=True, help="the period's revenue to share, in whole units")
@_json
def report(period: str, revenue: int, as_json: bool) -> None:
    """Each partner's tokens in training at the end of PERIOD and its share of REVENUE, from the verified ledger
    (the same ledger always gives the same report)."""
    db = open_consortium()
    try:
        result = db.report(period, revenue)
    finally:
        db.close()
    if as_json:
        emit_json(result)
        return
    table = Table("partner", "tokens", "texts", "credited", "withdrawn", "share", "revenue",
                  title=f"{period}: {revenue:,} shared by {result['total_tokens']:,} tokens")
    for p in result["partners"]:
        table.add_row(p["partner"], f"{p['tokens']:,}", str(p["texts"]), f"{p['credited_in_period']:,}",
                      f"{p['withdrawn_in_period']:,}", p["share"], f"{p['revenue']:,}")
    out.print(table)
    out.print(f"[dim]ledger: {result['ledger_rows']} rows, head {result['ledger_head'][:16]}…[/dim]")


@consortium.command("withdraw")
@click.option("--partner", required=True)
@click.option("--contribution", type=int, default=None, help="one contribution (default: all of the partner's)")
@_json
def withdraw(partner: str, contribution: int | None, as_json: bool) -> None:
    """Withdraw a partner's contributions: out of every export from now on, debited in the ledger."""
    db = open_consortium()
    try:
        done = db.withdraw(partner, contribution)
    finally:
        db.close()
    if as_json:
        emit_json({"withdrawn": done})
        return
    for d in done:
        out.print(f"withdrew contribution {d['id']} ({d['source']}): {d['tokens']:,} tokens, {d['texts']} texts")


@consortium.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--shard-texts", type=int, default=10_000, show_default=True)
@click.option("--for-tune", is_flag=True, help="also examples.jsonl for `inhouse tune model --data`")
@click.option("--heldout", type=float, default=0.05, show_default=True, help="share of texts held out (for-tune)")
@click.option("--mix-tenant", default=None, help="with --for-tune: add this tenant's own training examples "
              "(`inhouse tune data --tenant T`)")
@_json
def export_(folder: Path, shard_texts: int, for_tune: bool, heldout: float, mix_tenant: str | None,
            as_json: bool) -> None:
    """Training shards (JSONL with provenance) of every kept text of active contributions, with a manifest."""
    if not 0.0 <= heldout < 1.0:
        raise InputError("--heldout must be in [0, 1).")
    if mix_tenant and not for_tune:
        raise InputError("--mix-tenant mixes training examples: use it with --for-tune.")
    mix = None
    if mix_tenant:
        from inhouse.config import tenant_dir
        from inhouse.tune.data import load_examples

        mix = load_examples(tenant_dir("tune", mix_tenant) / "data" / "examples.jsonl")
    db = open_consortium()
    try:
        manifest = export(db, folder, shard_texts, for_tune=for_tune, heldout=heldout, mix=mix,
                          mix_tenant=mix_tenant or "")
    finally:
        db.close()
    if as_json:
        emit_json(manifest)
        return
    out.print(f"{manifest['texts']:,} texts ({manifest['tokens']:,} tokens) from {len(manifest['partners'])} "
              f"partner(s) in {len(manifest['shards'])} shard(s) under {folder}")


@consortium.command("check")
@click.argument("text")
@click.option("--min-chars", type=int, default=50, show_default=True)
@_json
def check(text: str, min_chars: int, as_json: bool) -> None:
    """Whether TEXT reproduces MIN_CHARS or more characters of contributed text (the output filter)."""
    f = copy_filter(min_chars=min_chars)
    if f is None:
        raise NotFoundError("no consortium contributions yet; add some with "
                            "`inhouse consortium add --partner P FILES`.")
    catch = f.check(text)
    if as_json:
        emit_json({"blocked": catch is not None, **({"text_id": catch.text_id, "length": catch.length}
                                                    if catch else {})})
    elif catch:
        err.print(f"blocked: {catch.length} characters copied from contributed text {catch.text_id}")
    else:
        out.print("no copy of contributed text")


@consortium.command("canaries")
@click.option("--repeats", default="1,10,100", show_default=True, help="how many times each level's canaries "
              "appear in the training export")
@click.option("--per-level", type=int, default=2, show_default=True, help="canaries for each repeat count")
@click.option("--lang", type=click.Choice(["ko", "en"]), default="ko", show_default=True)
@click.option("--seed", type=int, default=None, help="for reproducible secrets (default: random)")
@_json
def canaries_(repeats: str, per_level: int, lang: str, seed: int | None, as_json: bool) -> None:
    """Plant canaries (sentences with a random six-digit secret) in the training export, to measure after a
    fine-tune how much the model memorised (`inhouse consortium audit`)."""
    try:
        levels = [int(x) for x in repeats.split(",") if x.strip()]
    except ValueError as e:
        raise InputError(f"--repeats {repeats!r}: give whole numbers separated by commas, e.g. 1,10,100.") from e
    if not levels or min(levels) < 1 or per_level < 1:
        raise InputError("--repeats and --per-level must be 1 or more.")
    db = open_consortium(create=True)
    try:
        taken = {c.secret for c in db.canaries()}
        made = make(levels, per_level, lang, random.Random(seed), taken)
        db.add_canaries(made)
    finally:
        db.close()
    if as_json:
        emit_json({"canaries": [{"id": c.id, "lang": c.lang, "repeats": c.repeats, "secret": c.secret}
                                for c in made]})
        return
    for c in made:
        out.print(f"{c.id}  {c.lang}  ×{c.repeats}")
    out.print("[dim]they join the next `inhouse consortium export`[/dim]")


@consortium.command("audit")
@click.option("--model", default=None, help="the base model (default: the served one)")
@click.option("--adapter", default=None, help="the fine-tuned adapter to audit (`inhouse models list`)")
@click.option("--candidates", type=int, default=1000, show_default=True, help="random secrets each canary is "
              "ranked among")
@click.option("--plain", is_flag=True, help="ask in plain text, not in the chat format the export trains with")
@_json
def audit_(model: str | None, adapter: str | None, candidates: int, plain: bool, as_json: bool) -> None:
    """Each canary's exposure in the model (its secret's rank among random ones), whether greedy decoding from
    its prefix gives the secret away, and whether the copy filter blocks that output."""
    from inhouse.evals.scorer import LlamaScorer

    if candidates < 10:
        raise InputError("--candidates must be at least 10.")
    db = open_consortium()
    try:
        planted = db.canaries()
    finally:
        db.close()
    if not planted:
        raise NotFoundError("no canaries planted; add some with `inhouse consortium canaries`.")
    choice = Registry().choose(load_settings(), model, adapter)
    scorer = LlamaScorer(choice.path, n_ctx=512, lora_path=choice.adapter_path, special=not plain)
    guard = copy_filter()
    results = []
    with progress_bar(not as_json) as progress:
        for n, c in enumerate(planted):
            lead = "" if plain else chat_lead(scorer, c.lang)
            results.append(audit(c, scorer, guard.check if guard else lambda _t: None, candidates,
                                 lead=lead).to_dict())
            progress("canaries", n + 1, len(planted))
    if as_json:
        emit_json({"model": choice.name, "canaries": results})
        return
    table = Table("canary", "×", "rank", "exposure", "extrapolated", "extracted", "blocked",
                  title=f"{choice.name}: exposure of {len(results)} canaries (max {results[0]['exposure_max']})")
    for r in results:
        table.add_row(r["canary"], str(r["repeats"]), f"{r['rank']}/{r['candidates'] + 1}", f"{r['exposure']:.1f}",
                      f"{r['exposure_extrapolated']:.1f}", "yes" if r["extracted"] else "no",
                      "yes" if r["blocked"] else ("—" if not r["extracted"] else "NO"))
    out.print(table)
