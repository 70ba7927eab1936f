"""`inhouse serve`, `inhouse keys create|list|revoke` and `inhouse audit`."""

from __future__ import annotations

import click
from rich.table import Table

from inhouse.cli.common import emit_json, err, out, split_groups
from inhouse.cli.logs import current, uvicorn_config
from inhouse.errors import InputError
from inhouse.server.audit import AuditLog
from inhouse.server.db import open_server_db
from inhouse.server.keys import ROLES, KeyStore


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (loopback by default)")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--max-waiting", default=8, show_default=True, type=int,
              help="generation requests that may wait for the model before new ones get 429")
@click.option("--adapter", default=None,
              help="registered LoRA adapter for every tenant ('' for none; default: each tenant's from "
                   "tenant_adapters, else the adapter setting)")
@click.option("--workers", default=1, show_default=True, type=int,
              help="server processes on this port (with database_url: they share keys, audit, queue bounds)")
@click.option("--json", "as_json", is_flag=True, help="print the listening address as JSON before serving")
def serve(host: str, port: int, max_waiting: int, adapter: str | None, workers: int, as_json: bool) -> None:
    """Run the HTTP server: OpenAI-compatible /v1, native /api, /metrics and the web UI at /."""
    import os

    import uvicorn

    from inhouse.config import load_settings
    from inhouse.server.app import create_app

    if workers < 1:
        raise InputError("--workers must be 1 or more.")
    if workers > 1 and not load_settings().database_url:
        raise InputError("several worker processes share their queue bounds, keys and audit log through PostgreSQL: "
                         "set database_url (INHOUSE_DATABASE_URL), or run one worker.")
    app = create_app(max_waiting=max_waiting, adapter=adapter)
    app.state.inhouse.check_adapters()  # a missing adapter, or one for another model, stops here, not per request
    if as_json:
        emit_json({"url": f"http://{host}:{port}", "openai_base_url": f"http://{host}:{port}/v1",
                   "workers": workers})
    else:
        err.print(f"InHouse at http://{host}:{port}/  (OpenAI base_url http://{host}:{port}/v1)"
                  f"{f', {workers} worker processes' if workers > 1 else ''}", highlight=False)
    level = current()  # uvicorn's loggers run at the level `--log-level` gave ours
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=level, log_config=uvicorn_config(level))
        return
    app.state.inhouse.close()
    # Each worker process builds its own app (inhouse.server.app.from_environment) from these settings.
    os.environ["INHOUSE_SERVE_MAX_WAITING"] = str(max_waiting)
    if adapter is not None:
        os.environ["INHOUSE_SERVE_ADAPTER"] = adapter
    uvicorn.run("inhouse.server.app:from_environment", factory=True, host=host, port=port, workers=workers,
                log_level=level, log_config=uvicorn_config(level))


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed; a key is shown once)."""


@keys.command("create")
@click.option("--tenant", required=True)
@click.option("--user", required=True)
@click.option("--groups", default="", help="comma-separated access groups")
@click.option("--role", type=click.Choice(ROLES), default="reader", show_default=True)
@click.option("--expires", default=None, help="expiry: a date (2026-12-31) or a duration from now (30d, 12h)")
@click.option("--note", default="", help="what the key is for")
@click.option("--json", "as_json", is_flag=True)
def keys_create(tenant: str, user: str, groups: str, role: str, expires: str | None, note: str, as_json: bool) -> None:
    key, record = KeyStore(open_server_db()).create(tenant, user, split_groups(groups), role, expires, note)
    if as_json:
        emit_json({"key": key, **record.to_json()})
        return
    out.print(key, highlight=False)
    err.print(f"[dim]key {record.id} for {user}@{tenant} ({role}); it is shown only now: store it safely.[/dim]")


@keys.command("list")
@click.option("--tenant", default=None)
@click.option("--json", "as_json", is_flag=True)
def keys_list(tenant: str | None, as_json: bool) -> None:
    records = KeyStore(open_server_db()).list(tenant)
    if as_json:
        emit_json({"keys": [r.to_json() for r in records]})
        return
    table = Table("id", "tenant", "user", "groups", "role", "state", "created", "expires")
    for r in records:
        table.add_row(r.id, r.tenant, r.user, ",".join(r.groups), r.role, r.state(), r.created_at, r.expires_at or "")
    out.print(table)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True)
def keys_revoke(key_id: str, as_json: bool) -> None:
    record = KeyStore(open_server_db()).revoke(key_id)
    if as_json:
        emit_json(record.to_json())
    else:
        out.print(f"revoked {record.id} ({record.user}@{record.tenant})", highlight=False)


@click.command()
@click.option("--since", default=None, help="from this time: a date/time or a duration ago (24h, 7d)")
@click.option("--until", default=None, help="before this time (same forms)")
@click.option("--user", default=None)
@click.option("--tenant", default=None)
@click.option("--action", default=None, help="answer, chat, search, upload, delete")
@click.option("--limit", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one entry a line (for export)")
def audit(since: str | None, until: str | None, user: str | None, tenant: str | None, action: str | None,
          limit: int | None, as_json: bool) -> None:
    """Query the append-only audit log (questions and answers are stored PII-masked)."""
    entries = AuditLog(open_server_db()).query(since, until, user, tenant, action, limit)
    if as_json:
        for e in entries:
            emit_json(e.to_json())
        return
    table = Table("time", "tenant", "user", "action", "outcome", "question", "chunks")
    for e in entries:
        table.add_row(e.ts, e.tenant, e.user, e.action, e.outcome, (e.question or e.detail)[:60],
                      ",".join(map(str, e.chunk_ids[:6])))
    out.print(table)
