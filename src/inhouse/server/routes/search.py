"""/api/search and /api/chunks: the hits and passages the key's principal may read, through its reader view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from inhouse.errors import NotFoundError
from inhouse.retrieve import read_chunks
from inhouse.retrieve import search as run_search
from inhouse.server.deps import Reader, State
from inhouse.server.schemas import SearchRequest

router = APIRouter()


@router.post("/api/search", tags=["inhouse"])
def api_search(body: SearchRequest, key: Reader, srv: State) -> dict:
    embedder = srv.embedder if body.mode != "lexical" else None
    mode = body.mode if embedder is not None else "lexical"
    result = run_search(srv.store, key.principal, body.query, srv.settings, k=body.k, mode=mode, embedder=embedder)
    srv.audit.record(key, "search", "ok", body.query, "", [h.chunk_id for h in result.hits])
    return result.to_json()


@router.get("/api/chunks/{chunk_id}", tags=["inhouse"])
def api_chunk(chunk_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], key: Reader, srv: State) -> dict:
    """One passage, for reading a citation; absent unless the key's principal may read it."""
    ch = read_chunks(srv.store, key.principal, [chunk_id]).get(chunk_id)
    srv.audit.record(key, "read", "ok" if ch is not None else "error", chunk_ids=[chunk_id] if ch else [],
                     detail="" if ch else f"no readable passage {chunk_id}")
    if ch is None:
        raise NotFoundError(f"no passage {chunk_id} that this key may read.")
    return {"chunk_id": chunk_id, "doc_path": ch.doc_path, "page": ch.page, "heading": list(ch.heading_path),
            "text": ch.text}
