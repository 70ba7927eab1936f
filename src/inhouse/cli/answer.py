"""`inhouse ask` and `inhouse models`: grounded answers and the model registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from rich.table import Table

from inhouse.answer import Answer, answer_question, judge_for
from inhouse.answer.pipeline import DEFAULT_POLICY
from inhouse.cli.common import emit_json, err, out, principal_options
from inhouse.config import load_settings
from inhouse.consortium.filter import LiveCopyFilter
from inhouse.errors import InputError
from inhouse.guard import copies
from inhouse.models.chat import LlamaCppChat
from inhouse.models.embedders import load_embedder
from inhouse.models.registry import Registry
from inhouse.store import open_store
from inhouse.types import Principal


def load_chat_model(name: str | None = None, adapter: str | None = None, tenant: str | None = None) -> LlamaCppChat:
    """The model that answers, with its adapter: `adapter` (a command's --adapter, "" for none) wins over the
    tenant's own and the `adapter` setting (`Registry.choose`)."""
    settings = load_settings()
    return Registry().choose(settings, name, adapter, tenant).chat(settings)


ADAPTER_HELP = ("registered LoRA adapter to apply ('' for none; default: the tenant's from tenant_adapters, else "
                "the adapter setting)")


def _print_answer(a: Answer) -> None:
    style = "yellow" if a.abstained else "bold"
    out.print(f"[{style}]{a.answer}[/{style}]", highlight=False)
    shown = a.cited_sources() if not a.abstained else []
    if shown:
        out.print("\n[dim]Sources[/dim]")
        for s in shown:
            where = s.doc_path + (f" p.{s.page}" if s.page else "")
            out.print(f" [{s.n}] [cyan]{where}[/cyan] — {s.text[:160]}", highlight=False)
    elif a.abstained and a.nearest:
        out.print("\n[dim]Nearest sources[/dim]")
        for h in a.nearest:
            out.print(f" · [cyan]{h.doc_path}[/cyan] — {h.snippet.replace('**', '')[:160]}", highlight=False)
    dropped = [c for c in a.claims if not c.kept]
    if dropped:
        out.print(f"[dim]{len(dropped)} unsupported statement(s) removed by the verifier.[/dim]")


@click.command()
@click.argument("question", required=False)
@principal_options
@click.option("--model", default=None, help="registered model name (default: settings/registry default)")
@click.option("--adapter", default=None, help=ADAPTER_HELP)
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="one question a line; JSON lines")
@click.option("--max-tokens", type=click.IntRange(min=1), default=DEFAULT_POLICY.max_tokens, show_default=True,
              help="most tokens of the drafted answer (the API's max_tokens)")
@click.option("--json", "as_json", is_flag=True, help="print the answer, citations and claim verdicts as JSON")
def ask(question: str | None, principal: Principal, model: str | None, adapter: str | None, batch: Path | None,
        max_tokens: int, as_json: bool) -> None:
    """Answer a question from the documents the user may read, with citations, or say it cannot."""
    if (question is None) == (batch is None):
        raise InputError("give either a QUESTION or --batch FILE.")
    settings = load_settings()
    copies.install(LiveCopyFilter())  # no answer repeats text partners contributed for training only
    chat = load_chat_model(model, adapter, principal.tenant)  # a wrong adapter is named before anything loads
    store = open_store()
    embedder = load_embedder(settings.embedder)
    judge = judge_for(chat, settings)
    policy = dataclasses.replace(DEFAULT_POLICY, max_tokens=max_tokens)
    if batch is not None:
        for line in batch.read_text("utf-8").splitlines():
            if line.strip():
                a = answer_question(store, principal, line, settings, chat, embedder, judge_model=judge,
                                    policy=policy)
                emit_json({"question": line.strip(), **a.to_json()})
        return
    live = not as_json and err.is_terminal

    def show(piece: str) -> None:
        err.print(piece, end="", style="dim", highlight=False)

    result = answer_question(store, principal, question or "", settings, chat, embedder,
                             on_token=show if live else None, judge_model=judge, policy=policy)
    if live:
        err.print()
    if as_json:
        emit_json(result.to_json())
    else:
        _print_answer(result)


@click.group()
def models() -> None:
    """List, add, verify and choose GGUF models and their LoRA adapters."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
def models_list(as_json: bool) -> None:
    """Models and adapters: an adapter's row names its base, its hash, its training data's hash and tenant."""
    reg = Registry()
    rows = reg.list()
    adapters = reg.list_adapters()
    if as_json:
        emit_json([r if r["kind"] == "remote" else {k: r[k] for k in ("kind", "name", "path", "sha256", "size",
                                                                      "default")} for r in rows] + adapters)
        return
    table = Table("kind", "name", "default", "base", "sha256", "data", "tenant", "size", "path / note")
    for r in rows:
        if r["kind"] == "remote":
            table.add_row("remote", r["name"], "✓" if r["default"] else "", r["model"], "", "", "",
                          f"{r['engine']} ×{r['concurrency']}", ", ".join(r["urls"]))
            continue
        table.add_row("model", r["name"], "✓" if r["default"] else "", "", r["sha256"][:12], "", "",
                      f"{r['size'] / 1e6:.0f} MB" if r["size"] else "", r["path"] or r.get("note", ""))
    for a in adapters:
        table.add_row("adapter", a["name"], "", a["base"], a["sha256"][:12], (a.get("data_sha256") or "")[:12],
                      a.get("tenant") or "", f"{a['size'] / 1e6:.1f} MB", a["path"])
    out.print(table)


@models.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="name to register it under (default: file stem)")
@click.option("--json", "as_json", is_flag=True)
def models_add(path: Path, name: str | None, as_json: bool) -> None:
    entry = Registry().add(path, name)
    if as_json:
        emit_json(entry)
    else:
        out.print(f"registered {entry['name']} ({entry['size'] / 1e6:.0f} MB, sha256 {entry['sha256'][:12]}…)")


@models.command("add-remote")
@click.argument("name")
@click.option("--url", "urls", multiple=True, required=True,
              help="an engine's OpenAI base URL, e.g. http://10.0.0.5:8000/v1 (repeat for each engine)")
@click.option("--engine", type=click.Choice(["vllm", "llamacpp", "openai"]), required=True,
              help="what serves it: vLLM, llama.cpp (llama-server or llama_cpp.server), or another OpenAI-compatible")
@click.option("--model", "served", default=None, help="the model name the engines serve (default: NAME)")
@click.option("--concurrency", type=int, default=4, show_default=True, help="requests each engine takes at once")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds for one request")
@click.option("--api-key-env", default="", help="environment variable holding the engines' API key, if any")
@click.option("--json", "as_json", is_flag=True)
def models_add_remote(name: str, urls: tuple[str, ...], engine: str, served: str | None, concurrency: int,
                      timeout: float, api_key_env: str, as_json: bool) -> None:
    """Register a pool of OpenAI-compatible engines (vLLM, llama.cpp server) as model NAME: requests go to the
    least busy engine, a failed one is retried on another, a failing engine rests until its health check
    passes. Hosts other than loopback must be in the egress_allow setting. Use it with `models default NAME`
    or the `model` setting."""
    from inhouse.guard.egress import allow_list_from

    settings = load_settings()
    reg = Registry()
    entry = reg.add_remote(name, urls, engine, served or name, concurrency, timeout, api_key_env,
                           allowed_hosts=allow_list_from(settings.egress_allow))
    pool = reg.choose(settings, name, "").chat(settings)
    health = [{"url": e.url, "healthy": pool.probe(e)} for e in pool.engines]
    if as_json:
        emit_json(entry | {"health": health})
        return
    out.print(f"registered {name}: {engine}, model {entry['model']}, {len(urls)} engine(s) × {concurrency}")
    for h in health:
        out.print(f"  {'[green]up[/green]' if h['healthy'] else '[red]not answering[/red]'}  {h['url']}")


@models.command("add-adapter")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--base", required=True, help="the registered model the adapter was trained on")
@click.option("--name", default=None, help="name to register it under (default: file stem)")
@click.option("--json", "as_json", is_flag=True)
def models_add_adapter(path: Path, base: str, name: str | None, as_json: bool) -> None:
    """Register a LoRA adapter file (a llama.cpp GGUF adapter) trained on the model BASE."""
    entry = Registry().add_adapter(path, name or path.stem, base)
    if as_json:
        emit_json(entry)
    else:
        out.print(f"registered adapter {entry['name']} for {entry['base']} ({entry['size'] / 1e6:.1f} MB, "
                  f"sha256 {entry['sha256'][:12]}…)", highlight=False)


@models.command("remove-adapter")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def models_remove_adapter(name: str, as_json: bool) -> None:
    """Unregister an adapter; its file stays where it is."""
    entry = Registry().remove_adapter(name)
    if as_json:
        emit_json(entry)
    else:
        out.print(f"removed adapter {name} (the file {entry['path']} is kept)", highlight=False)


@models.command("verify")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
def models_verify(name: str | None, as_json: bool) -> None:
    results = Registry().verify(name)
    if as_json:
        emit_json(results)
    else:
        for r in results:
            out.print(f"{'ok ' if r['ok'] else 'BAD'} {r['kind']} {r['name']}: {r['reason']}", highlight=False)
    if not all(r["ok"] for r in results):
        raise click.exceptions.Exit(1)


@models.command("default")
@click.argument("name")
def models_default(name: str) -> None:
    Registry().set_default(name)
    out.print(f"default model: {name}")
