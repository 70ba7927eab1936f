"""/api/answers/{id}: a stored answer with its claims and verdicts (`server.answers.AnswerLog`)."""

from __future__ import annotations

from fastapi import APIRouter

from inhouse.server.deps import Reader, State

router = APIRouter()


@router.get("/api/answers/{answer_id}", tags=["inhouse"])
def api_answer(answer_id: str, key: Reader, srv: State) -> dict:
    return srv.answers.get(key, answer_id)
