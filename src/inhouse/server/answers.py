"""Stored answers: each verified answer, with its claims and verdicts, kept in `server.db` so that its asker
(or an admin of the tenant) can read it again (GET /api/answers/{id}).

An answer is PII-masked in every string before it is written, whoever asked: a cleared reader's revealed
PII is not kept at rest.
"""

from __future__ import annotations

import json

from inhouse.errors import NotFoundError
from inhouse.guard.pii import mask
from inhouse.server.db import ServerDB
from inhouse.server.keys import ApiKey, now_iso


class AnswerLog:
    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def save(self, key: ApiKey, answer_json: dict) -> str:
        """Store `answer_json` (Answer.to_json() with its `answer_id` and question) for the key's tenant and
        user, masked; returns the answer id."""
        answer_id = answer_json["answer_id"]
        with self.db.transaction() as c:
            c.execute("INSERT INTO answers VALUES (?,?,?,?,?)",
                      (answer_id, key.tenant, key.user, now_iso(),
                       json.dumps(_masked(answer_json), ensure_ascii=False)))
        return answer_id

    def get(self, key: ApiKey, answer_id: str) -> dict:
        """The stored answer, if `key` may read it: its asker's, or any of the tenant's for an admin."""
        rows = self.db.query("SELECT tenant, user_name, body FROM answers WHERE id = ?", (answer_id,))
        # Another tenant's (or, for a reader, another user's) answer is reported as absent, not forbidden.
        if not rows or rows[0][0] != key.tenant or (rows[0][1] != key.user and not key.is_admin):
            raise NotFoundError(f"no answer '{answer_id}' for this key.")
        return json.loads(rows[0][2])


def _masked(obj: object) -> object:
    """`obj` (JSON data) with PII masked in every string."""
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, dict):
        return {k: _masked(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_masked(v) for v in obj]
    return obj
