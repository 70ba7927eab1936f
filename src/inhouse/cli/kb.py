"""Knowledge-base commands: ingest, search, docs, status, embed."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from inhouse.cli.common import emit_json, err, out, principal_options, progress_bar, split_groups
from inhouse.config import home, load_settings
from inhouse.errors import InputError, NotFoundError
from inhouse.guard.policy import POLICIES
from inhouse.ingest import embed_pending
from inhouse.ingest import ingest as run_ingest
from inhouse.models.embedders import load_embedder
from inhouse.retrieve import MODES
from inhouse.retrieve import search as run_search
from inhouse.store import open_store
from inhouse.types import Principal


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--tenant", required=True, help="tenant that owns the documents")
@click.option("--groups", default="",
              help="comma-separated access groups that may read them (default: all of the tenant)")
@click.option("--sync", is_flag=True, help="also remove documents whose files are gone from the given folders")
@click.option("--no-embed", is_flag=True, help="index lexically now, embed later with `inhouse embed`")
@click.option("--pii", type=click.Choice(POLICIES), default=None,
              help="personal data in the files: keep, mask ([PHONE]), tokenize (reversible per tenant) or reject the "
                   "file  [default: the `pii` setting, keep]")
@click.option("--json", "as_json", is_flag=True, help="print the ingest report as JSON")
def ingest(paths: tuple[Path, ...], tenant: str, groups: str, sync: bool, no_embed: bool, pii: str | None,
           as_json: bool) -> None:
    """Ingest files and folders (recursive): PDF, DOCX, HTML, Markdown, text, CSV/TSV/JSONL/XLSX."""
    settings = load_settings()
    store = open_store()
    with progress_bar() as progress:
        report = run_ingest(store, settings, paths, tenant, split_groups(groups), sync=sync, progress=progress,
                            pii=pii or settings.pii)
        if not no_embed:
            embedder = load_embedder(settings.embedder)
            report.embedded = embed_pending(store, embedder, settings.embed_batch, progress)
    report.embeddings_pending = store.stats(settings.embedder)["embeddings_pending"]
    if as_json:
        emit_json(report.to_json())
    else:
        for f in report.files:
            if f.status in ("failed", "skipped"):
                err.print(f"[red]{f.status}[/red] {f.error or f.path}", highlight=False)
            elif f.status != "unchanged":
                detail = f" ({f.chunks} chunks)" if f.status in ("added", "updated") else ""
                out.print(f"{f.status:<9} {f.path}{detail}", highlight=False)
        summary = report.to_json()["summary"]
        out.print(", ".join(f"{n} {s}" for s, n in summary.items() if n) or "nothing to do")
        if report.embeddings_pending:
            out.print(f"{report.embeddings_pending} chunks await embeddings "
                      "(search works lexically meanwhile): run `inhouse embed`.")
    store.close()
    if report.failed:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("query", required=False)
@principal_options
@click.option("--k", default=10, show_default=True, help="number of results")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="file with one query a line; prints JSON lines")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def search(query: str | None, principal: Principal, k: int, mode: str, batch: Path | None, as_json: bool) -> None:
    """Search the documents the user may read (hybrid lexical + dense)."""
    if (query is None) == (batch is None):
        raise InputError("give either a QUERY or --batch FILE.")
    settings = load_settings()
    store = open_store()
    embedder = load_embedder(settings.embedder) if mode != "lexical" else None
    if batch is not None:
        for line in batch.read_text("utf-8").splitlines():
            if line.strip():
                result = run_search(store, principal, line, settings, k=k, mode=mode, embedder=embedder)
                emit_json({"query": line.strip(), **result.to_json()})
        return
    result = run_search(store, principal, query or "", settings, k=k, mode=mode, embedder=embedder)
    if as_json:
        emit_json(result.to_json())
        return
    for w in result.warnings:
        err.print(f"[yellow]note:[/yellow] {w}", highlight=False)
    if not result.hits:
        out.print("no results")
    for rank, h in enumerate(result.hits, start=1):
        where = (h.doc_path + (f" p.{h.page}" if h.page else "")
                 + (f" › {' › '.join(h.heading_path)}" if h.heading_path else ""))
        out.print(f"[bold]{rank}.[/bold] [cyan]{where}[/cyan]  [dim]{h.score:.4f}[/dim]", highlight=False)
        out.print("   " + h.snippet.replace("\n", " ").replace("**", ""), highlight=False)


@click.group()
def docs() -> None:
    """List and remove documents."""


@docs.command("list")
@click.option("--tenant", default=None, help="only this tenant")
@click.option("--json", "as_json", is_flag=True)
def docs_list(tenant: str | None, as_json: bool) -> None:
    """Documents in the store."""
    store = open_store()
    documents = store.list_documents(tenant=tenant)
    if as_json:
        emit_json({"documents": [
            {"tenant": d.tenant, "path": d.path, "kind": d.kind, "groups": list(d.groups), "pages": d.pages,
             "sha256": d.sha256, "size": d.size} for d in documents]})
        return
    table = Table("tenant", "path", "kind", "groups", "pages")
    for d in documents:
        table.add_row(d.tenant, d.path, d.kind, ",".join(d.groups), str(d.pages))
    out.print(table)


@docs.command("rm")
@click.argument("path")
@click.option("--tenant", default=None, help="tenant of the document (needed when several have that path)")
@click.option("--json", "as_json", is_flag=True)
def docs_rm(path: str, tenant: str | None, as_json: bool) -> None:
    """Remove a document (by the path shown in `docs list`) and its chunks."""
    store = open_store()
    matches = [d for d in store.list_documents(tenant=tenant) if d.path == path]
    if not matches:
        raise NotFoundError(
            f"no document '{path}'" + (f" in tenant '{tenant}'" if tenant else "") + "; see `inhouse docs list`."
        )
    if len(matches) > 1:
        raise InputError(f"'{path}' exists in tenants {', '.join(d.tenant for d in matches)}; add --tenant.")
    store.delete_document(matches[0].tenant, path)
    if as_json:
        emit_json({"removed": {"tenant": matches[0].tenant, "path": path}})
    else:
        out.print(f"removed {path} ({matches[0].tenant})", highlight=False)


@click.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Documents, chunks, embeddings pending, store size."""
    settings = load_settings()
    store = open_store()
    stats = {"home": str(home()), "embedder": settings.embedder, **store.stats(settings.embedder)}
    if as_json:
        emit_json(stats)
        return
    table = Table(show_header=False)
    for key, value in stats.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    out.print(table)


@click.command()
@click.option("--limit", type=int, default=None, help="embed at most this many chunks now")
@click.option("--json", "as_json", is_flag=True)
def embed(limit: int | None, as_json: bool) -> None:
    """Embed chunks that have no vector yet (resumable; safe to interrupt)."""
    settings = load_settings()
    store = open_store()
    embedder = load_embedder(settings.embedder)
    with progress_bar() as progress:
        done = embed_pending(store, embedder, settings.embed_batch, progress, limit=limit)
    pending = store.stats(embedder.name)["embeddings_pending"]
    if as_json:
        emit_json({"embedded": done, "embeddings_pending": pending})
    else:
        out.print(f"embedded {done} chunks; {pending} pending")


@click.group("store")
def store_group() -> None:
    """The knowledge-base store: move it to PostgreSQL."""


@store_group.command("copy")
@click.option("--to", "url", required=True, help="postgresql://user@host:5432/db (with pgvector)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def store_copy(url: str, as_json: bool) -> None:
    """Copy the embedded store (INHOUSE_HOME/inhouse.db) into PostgreSQL with its vectors, then compare counts
    and content hashes. An interrupted copy resumes; then set database_url (INHOUSE_DATABASE_URL) to use it."""
    from inhouse.store import SQLiteStore
    from inhouse.store.copy import copy_store
    from inhouse.store.postgres import PostgresStore

    path = home() / "inhouse.db"
    if not path.exists():
        raise NotFoundError(f"no embedded store at {path} to copy; set INHOUSE_HOME to the folder that holds it.")
    src, dst = SQLiteStore(path), PostgresStore(url)
    try:
        with progress_bar(not as_json) as progress:
            report = copy_store(src, dst, progress)
    finally:
        src.close()
        dst.close()
    if as_json:
        emit_json(report.to_json())
        return
    out.print(f"{report.documents} documents ({report.copied} copied, {report.unchanged} already there), "
              f"{report.chunks} chunks, vectors: {', '.join(f'{m} {n}' for m, n in report.vectors.items()) or 'none'}")
    out.print(f"verified: counts equal, content hash {report.hashes['source'][:16]} on both sides")
    out.print(f"[dim]use it: INHOUSE_DATABASE_URL={dst.location} (or database_url in config.toml)[/dim]",
              highlight=False)
