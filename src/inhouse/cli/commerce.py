"""`inhouse commerce …`: a shop's order database and the delivery/return inquiry agent."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click
from rich.table import Table

from inhouse.apps.commerce.agent import TicketAgent
from inhouse.apps.commerce.desk import Desk, Proposal
from inhouse.apps.commerce.orders import open_shop
from inhouse.apps.commerce.tau import load_shop
from inhouse.cli.common import emit_json, err, out
from inhouse.config import load_settings, tenant_dir
from inhouse.errors import InputError, NotFoundError
from inhouse.models.registry import Registry

AGENT_CONTEXT = 6144  # tokens: the ticket, the customer's records and one form


def _tenant(f):
    return click.option("--tenant", required=True, help="the shop (tenant) whose orders these are")(f)


def _json(f):
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")(f)


@click.group("commerce")
def commerce() -> None:
    """A shop's orders and the agent that answers delivery, return and exchange requests."""


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
    """Handle a customer's MESSAGE: identify the customer, read their orders, propose the changes asked for
    (each confirmed before it commits) and reply. Every step is in the shop's audit log."""
    if (message is None) == (path is None):
        raise InputError("give the customer's message as an argument or with --file, not both.")
    text = message if message is not None else path.read_text("utf-8")  # type: ignore[union-attr]
    db = open_shop(tenant)
    settings = load_settings()
    settings = dataclasses.replace(settings, n_ctx=max(settings.n_ctx, AGENT_CONTEXT))
    chat = Registry().choose(settings, model, "", tenant).chat(settings)
    desk = Desk(db, confirm=_asker(yes), actor="agent")
    outcome = TicketAgent(chat).handle(text, desk)
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
