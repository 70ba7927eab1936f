"""The audit log: who asked what, which chunks came back, and whether it was answered or refused.

Append-only by construction: triggers in server.db abort any UPDATE or DELETE on the table, so even
code with a connection cannot rewrite history. Questions and answers are PII-masked before they are
written (`inhouse.guard.pii.mask`), so the log itself holds no phone numbers, RRNs or card numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from inhouse.guard.pii import mask
from inhouse.server.db import ServerDB
from inhouse.server.keys import ApiKey, now_iso, parse_when

OUTCOMES = ("answered", "refused", "ok", "error", "cancelled")


@dataclass
class AuditEntry:
    tenant: str
    user: str
    key_id: str
    action: str
    outcome: str
    question: str = ""
    answer: str = ""
    chunk_ids: list[int] = field(default_factory=list)
    model: str = ""
    answer_id: str | None = None
    detail: str = ""
    ts: str = ""
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_COLS = "id, ts, tenant, user_name, key_id, action, question, outcome, answer, chunk_ids, model, answer_id, detail"


class AuditLog:
    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def record(self, key: ApiKey, action: str, outcome: str, question: str = "", answer: str = "",
               chunk_ids: list[int] | None = None, model: str = "", answer_id: str | None = None,
               detail: str = "") -> int:
        """Append one entry (masked); returns its id."""
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO audit (ts, tenant, user_name, key_id, action, question, outcome, answer, chunk_ids, "
                "model, answer_id, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (now_iso(), key.tenant, key.user, key.id, action, mask(question), outcome, mask(answer),
                 json.dumps(list(chunk_ids or [])), model, answer_id, mask(detail)))
            return int(cur.fetchone()[0])

    def query(self, since: str | None = None, until: str | None = None, user: str | None = None,
              tenant: str | None = None, action: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        sql, args = f"SELECT {_COLS} FROM audit WHERE 1=1", []
        for col, op, value in (("ts", ">=", parse_when(since, past=True) if since else None),
                               ("ts", "<", parse_when(until, past=True) if until else None),
                               ("user_name", "=", user), ("tenant", "=", tenant), ("action", "=", action)):
            if value is not None:
                sql += f" AND {col} {op} ?"
                args.append(value)
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [AuditEntry(id=r[0], ts=r[1], tenant=r[2], user=r[3], key_id=r[4], action=r[5], question=r[6],
                           outcome=r[7], answer=r[8], chunk_ids=json.loads(r[9]), model=r[10], answer_id=r[11],
                           detail=r[12]) for r in self.db.query(sql, args)]
