"""API keys: each bound to a tenant, a user, access groups and a role; stored only as a SHA-256 hash.

A key reads `ih_<id>_<secret>`. The id is public (it names the key in `keys list`, the audit log and
`keys revoke`); the secret is 32 random bytes and is shown once, at creation. The database keeps
sha256(key), so a stolen database grants no access. Keys expire (optional) and can be revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inhouse.errors import InputError, NotFoundError, PermissionDenied
from inhouse.ingest.pipeline import validate_name
from inhouse.server.db import ServerDB
from inhouse.types import Principal

log = logging.getLogger(__name__)

ROLES = ("reader", "admin")
PREFIX = "ih_"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_when(value: str, past: bool = False) -> str:
    """An ISO date/time, or a duration like `30d`, `12h`, `15m` from now (or ago, with `past`) → ISO UTC."""
    value = value.strip()
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    if value[:-1].isdigit() and value[-1:] in units:
        delta = timedelta(**{units[value[-1]]: int(value[:-1])})
        return (datetime.now(UTC) + (-delta if past else delta)).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise InputError(f"'{value}' is not a date or duration; use e.g. 2026-12-31, 2026-12-31T09:00Z or 30d.") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    user: str
    groups: tuple[str, ...]
    role: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    note: str = ""

    @property
    def principal(self) -> Principal:
        return Principal(self.tenant, self.user, self.groups)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> ApiKey:
        """This key, or PermissionDenied (HTTP 403) when it is not an admin's."""
        if not self.is_admin:
            log.warning("forbidden: key %s (%s@%s, role %s) asked for an admin route", self.id, self.user,
                        self.tenant, self.role)
            raise PermissionDenied(f"key {self.id} has role '{self.role}'; this needs an admin key.")
        return self

    def state(self, at: str | None = None) -> str:
        at = at or now_iso()
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= at:
            return "expired"
        return "active"

    def to_json(self) -> dict:
        return {"id": self.id, "tenant": self.tenant, "user": self.user, "groups": list(self.groups),
                "role": self.role, "created_at": self.created_at, "expires_at": self.expires_at,
                "revoked_at": self.revoked_at, "state": self.state(), "note": self.note}


_COLS = "id, tenant, user_name, groups, role, created_at, expires_at, revoked_at, note"


def _row(r: tuple) -> ApiKey:
    return ApiKey(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6], r[7], r[8])


class KeyStore:
    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def create(self, tenant: str, user: str, groups: tuple[str, ...] = (), role: str = "reader",
               expires: str | None = None, note: str = "") -> tuple[str, ApiKey]:
        """A new key: (the key text, to show once; its record)."""
        if role not in ROLES:
            raise InputError(f"unknown role '{role}'; choose one of: {', '.join(ROLES)}.")
        tenant, user = validate_name("tenant", tenant), validate_name("user", user)
        groups = tuple(sorted({validate_name("group", g) for g in groups}))
        expires_at = parse_when(expires) if expires else None
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, tenant, user, groups, role, now_iso(), expires_at, None, note)
        log.info("created API key %s for %s@%s (role %s%s)", key_id, user, tenant, role,
                 f", expires {expires_at}" if expires_at else "")
        with self.db.transaction() as c:
            c.execute(f"INSERT INTO api_keys ({_COLS}, secret_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (key_id, tenant, user, json.dumps(list(groups)), role, record.created_at, expires_at, None,
                       note, _hash(key)))
        return key, record

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        sql, args = f"SELECT {_COLS} FROM api_keys", []
        if tenant:
            sql, args = sql + " WHERE tenant = ?", [tenant]
        return [_row(r) for r in self.db.query(sql + " ORDER BY created_at, id", args)]

    def get(self, key_id: str) -> ApiKey:
        rows = self.db.query(f"SELECT {_COLS} FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            raise NotFoundError(f"no API key with id '{key_id}'; see `inhouse keys list`.")
        return _row(rows[0])

    def revoke(self, key_id: str) -> ApiKey:
        self.get(key_id)
        with self.db.transaction() as c:
            c.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (now_iso(), key_id))
        log.info("revoked API key %s", key_id)
        return self.get(key_id)

    def authenticate(self, key: str | None) -> ApiKey:
        """The active key record for `key`, or PermissionDenied saying why (missing/unknown/expired/revoked).
        Failures are logged with the key's id where the id is a real one; the key itself never is."""
        if not key:
            log.warning("authentication failed: no API key given")
            raise Unauthorized("no API key given; send 'Authorization: Bearer <key>' "
                               "(create one with `inhouse keys create`).")
        parts = key.split("_")
        if not key.startswith(PREFIX) or len(parts) < 3:
            log.warning("authentication failed: malformed API key")
            raise Unauthorized("the API key is malformed; keys look like ih_<id>_<secret>.")
        rows = self.db.query(f"SELECT {_COLS}, secret_hash FROM api_keys WHERE id = ?", (parts[1],))
        # Compare hashes in constant time even when the id is unknown, so timing does not reveal ids.
        stored = rows[0][-1] if rows else "0" * 64
        if not hmac.compare_digest(stored, _hash(key)) or not rows:
            log.warning("authentication failed: %s", f"wrong secret for key {rows[0][0]}" if rows else "unknown key id")
            raise Unauthorized("the API key is not valid; check it or ask an admin for a new one.")
        record = _row(rows[0][:-1])
        state = record.state()
        if state != "active":
            log.warning("authentication failed: key %s (%s@%s) is %s", record.id, record.user, record.tenant, state)
            raise Unauthorized(f"the API key {record.id} is {state}; ask an admin for a new one.")
        return record


class Unauthorized(PermissionDenied):
    """No valid credentials (HTTP 401), as opposed to valid credentials without the right (403)."""
