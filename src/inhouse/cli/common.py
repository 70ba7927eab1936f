"""Shared CLI plumbing: principal options, JSON output, progress bars, the store and embedder."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from inhouse.types import Principal

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def split_groups(value: str | None) -> tuple[str, ...]:
    return tuple(g.strip() for g in (value or "").split(",") if g.strip())


def principal_options(f: Callable) -> Callable:
    """--tenant/--user/--groups, turned into a `principal` keyword argument."""

    @click.option("--tenant", required=True, help="tenant whose documents are searched")
    @click.option("--user", default="cli", show_default=True, help="user name (for the audit trail)")
    @click.option("--groups", default="", help="comma-separated access groups of the user")
    @wraps(f)
    def wrapper(*args, tenant: str, user: str, groups: str, **kwargs):
        return f(*args, principal=Principal(tenant=tenant, user=user, groups=split_groups(groups)), **kwargs)

    return wrapper


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr; yields a (phase, done, total) callback."""
    if not enabled or not err.is_terminal:
        yield lambda phase, done, total: None
        return
    labels = {"ingest": "Ingesting files", "embed": "Embedding chunks", "reindex": "Re-indexing terms",
              "questions": "Writing questions"}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(labels.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update
