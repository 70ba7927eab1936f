"""`inhouse tune`: adapt the model and the retriever to a tenant's documents."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from inhouse.cli.answer import load_chat_model
from inhouse.cli.common import emit_json, out, progress_bar
from inhouse.config import home, load_settings
from inhouse.models.embedders import load_embedder
from inhouse.store import open_store
from inhouse.tune import data as tune_data
from inhouse.tune import retriever as tune_retriever


@click.group("tune")
def tune() -> None:
    """Adapt InHouse to a tenant's documents: training examples, the retriever, the model."""


@tune.command("data")
@click.option("--tenant", required=True, help="tenant whose documents the examples come from")
@click.option("--model", default=None, help="registered model that writes the questions (default: the default model)")
@click.option("--limit", default=300, show_default=True, type=int, help="questions to keep")
@click.option("--max-attempts", default=None, type=int, help="chunks to try at most (default: until --limit is kept)")
@click.option("--holdout", default=0.2, show_default=True, type=float,
              help="share of documents held out for evaluation")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: INHOUSE_HOME/tune/TENANT/data); an earlier run there is resumed")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def data(tenant: str, model: str | None, limit: int, max_attempts: int | None, holdout: float, seed: int,
         out_dir: Path | None, as_json: bool) -> None:
    """Build training examples from the tenant's documents: generated questions that pass a round trip,
    each as the exact answer prompt with a cited answer, and with the gold hidden, a refusal."""
    settings = load_settings()
    store = open_store()
    out_dir = out_dir or home() / "tune" / tenant / "data"
    embedder = load_embedder(settings.embedder)
    chat = load_chat_model(model, adapter="")  # questions come from the bare base model
    with progress_bar(not as_json) as progress:
        report = tune_data.build(store, tenant, settings, chat, out_dir, embedder, limit=limit, holdout=holdout,
                                 seed=seed, max_attempts=max_attempts, checker=chat.twin(),
                                 progress=progress)
    if as_json:
        emit_json(report.to_json())
        return
    table = Table("examples", "count", title=f"tune data: {report.kept} questions kept of {report.attempts} tried")
    for key, n in sorted(report.examples.items()):
        table.add_row(key, str(n))
    for reason, n in sorted(report.rejected.items(), key=lambda x: -x[1]):
        table.add_row(f"[dim]rejected: {reason}[/dim]", str(n))
    out.print(table)
    out.print(f"written to {report.out}/examples.jsonl")


@tune.command("retriever")
@click.option("--tenant", required=True, help="tenant whose examples train the adapter")
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="examples.jsonl (default: INHOUSE_HOME/tune/TENANT/data/examples.jsonl)")
@click.option("--epochs", default=30, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def retriever(tenant: str, data_file: Path | None, epochs: int, as_json: bool) -> None:
    """Train the tenant's query adapter on its training questions (`bench/adapt.py` measures it; search, ask
    and the server do not use it yet)."""
    settings = load_settings()
    store = open_store()
    examples = tune_data.load_examples(data_file or home() / "tune" / tenant / "data" / "examples.jsonl")
    embedder = load_embedder(settings.embedder)
    principal = tune_data.reader(store, tenant)
    report = tune_retriever.fit(store, principal, embedder, examples, tune_retriever.adapter_path(home(), tenant),
                                epochs=epochs)
    if as_json:
        emit_json(report)
        return
    out.print(f"retriever adapter for {tenant}: {report['pairs']} questions, loss {report['loss'][0]} → "
              f"{report['loss'][1]}\n{report['adapter']}\nsha256 {report['sha256']}")


@tune.command("model")
@click.option("--tenant", required=True, help="tenant whose examples train the adapter")
@click.option("--base", default=None, help="registered model to adapt (default: the default model)")
@click.option("--name", default=None, help="adapter name in the registry (default: TENANT-BASE)")
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="examples.jsonl (default: INHOUSE_HOME/tune/TENANT/data/examples.jsonl)")
@click.option("--rank", default=16, show_default=True, type=int)
@click.option("--alpha", default=32.0, show_default=True, type=float)
@click.option("--epochs", default=1.0, show_default=True, type=float)
@click.option("--lr", default=2e-4, show_default=True, type=float)
@click.option("--accumulate", default=4, show_default=True, type=int, help="examples per optimiser step")
@click.option("--refusal-share", default=0.2, show_default=True, type=float,
              help="most share of refusal examples trained on (the rest left out, seeded)")
@click.option("--max-tokens", default=2048, show_default=True, type=int, help="longer examples are left out")
@click.option("--max-steps", default=None, type=int, help="stop after this many steps (the schedule is the full run's)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="checkpoint folder (default: INHOUSE_HOME/tune/TENANT/model-BASE); a run there is resumed")
@click.option("--base-cache/--no-base-cache", default=True, show_default=True,
              help="keep the base converted for training in INHOUSE_HOME/cache/tune-base (float32, 4 bytes a "
                   "parameter; the two most recently used), so a resumed or repeated run skips the slow GGUF "
                   "conversion")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def model(tenant: str, base: str | None, name: str | None, data_file: Path | None, rank: int, alpha: float,
          epochs: float, lr: float, accumulate: int, refusal_share: float, max_tokens: int, max_steps: int | None,
          seed: int, work: Path | None, base_cache: bool, as_json: bool) -> None:
    """LoRA-train the model on the tenant's examples (CPU), write the adapter as GGUF and register it beside its
    base; `ask --adapter NAME` (or the tenant_adapters setting) then answers with it."""
    from inhouse.models.registry import Registry
    from inhouse.tune import model as tune_model

    settings = load_settings()
    registry = Registry()
    base_name, base_path = registry.resolve(base or settings.model or None)
    name = name or f"{tenant}-{base_name}"
    path = data_file or home() / "tune" / tenant / "data" / "examples.jsonl"
    train = tune_data.load_examples(path, "train")
    heldout = tune_data.load_examples(path, "heldout")
    lora = tune_model.LoraSettings(rank=rank, alpha=alpha, epochs=epochs, lr=lr, accumulate=accumulate,
                                   refusal_share=refusal_share, max_tokens=max_tokens, seed=seed)
    adapter_path = home() / "adapters" / "model" / f"{name}.gguf"
    with progress_bar(not as_json) as progress:
        report = tune_model.train(base_path, base_name, train, heldout,
                                  work or home() / "tune" / tenant / f"model-{base_name}", adapter_path, lora,
                                  max_steps=max_steps, threads=settings.n_threads or None,
                                  base_cache=home() / "cache" / "tune-base" if base_cache else None,
                                  progress=progress)
    entry = registry.add_adapter(adapter_path, name, base_name, meta={
        "tenant": tenant, "data_sha256": report.data_sha256, "examples": report.examples, "steps": report.steps,
        "rank": rank, "alpha": alpha, "heldout_loss_base": report.heldout_loss_base,
        "heldout_loss_adapted": report.heldout_loss_adapted})
    if as_json:
        emit_json({**report.to_json(), "name": entry["name"]})
        return
    out.print(f"adapter {entry['name']} for {base_name}: {report.examples} examples, {report.steps} steps "
              f"({report.seconds_per_step} s/step), held-out loss {report.heldout_loss_base} → "
              f"{report.heldout_loss_adapted}\n{report.adapter}\nsha256 {report.sha256}")
