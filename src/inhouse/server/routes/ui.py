"""Public routes: health, Prometheus metrics, the web pages (chat, shop, desk, analytics), the leaderboard page and
their static files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from inhouse import __version__
from inhouse.errors import NotFoundError
from inhouse.server.deps import State

router = APIRouter()
static = resources.files("inhouse.server").joinpath("static")


@router.get("/healthz", tags=["ops"])
def healthz(srv: State) -> dict:
    return {"status": "ok", "version": __version__, "queue": {"admitted": srv.queue.admitted,
                                                               "capacity": srv.queue.capacity}}


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
def metrics(srv: State) -> PlainTextResponse:
    return PlainTextResponse(srv.metrics.render(srv.queue), media_type="text/plain; version=0.0.4")


@router.get("/", include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(static.joinpath("index.html").read_text("utf-8"))


@router.get("/shop", include_in_schema=False)
def shop() -> HTMLResponse:
    """The shop operator's page (catalog search, review summaries, product copy); it signs in with a key."""
    return HTMLResponse(static.joinpath("shop.html").read_text("utf-8"))


@router.get("/desk", include_in_schema=False)
def desk() -> HTMLResponse:
    """The inquiry desk: a customer's message handled by the shop's agent, its transcript, reply and proposals."""
    return HTMLResponse(static.joinpath("desk.html").read_text("utf-8"))


@router.get("/analytics", include_in_schema=False)
def analytics() -> HTMLResponse:
    """Questions over the tenant's tables: the query, its result as a table and a chart, the checked narrative."""
    return HTMLResponse(static.joinpath("analytics.html").read_text("utf-8"))


@router.get("/leaderboard", include_in_schema=False)
def leaderboard(srv: State) -> HTMLResponse:
    # Model benchmark scores only (no documents), so the page is public like the sign-in page.
    from inhouse.evals.page import render_board
    from inhouse.evals.store import EvalStore

    path = srv.base / "evals" / "evals.db"
    if not path.exists():
        return HTMLResponse(render_board([]))
    board = EvalStore(path)
    try:
        return HTMLResponse(render_board(board.board()))
    finally:
        board.close()


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
    suffix = Path(name).suffix
    f = static.joinpath(name)
    if suffix not in types or "/" in name or not f.is_file():
        raise NotFoundError(f"no static file '{name}'.")
    return Response(f.read_bytes(), media_type=types[suffix] + "; charset=utf-8")
