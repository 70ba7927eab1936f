"""Reversible PII tokens per tenant: the store holds `[PHONE:7KQ2M4XD9A]`, the vault holds the value.

Why: a tenant may want answers that cite a customer's phone number to cleared staff, while the index,
the logs and every uncleared reader only ever see a token. Each tenant has its own 32-byte key
(INHOUSE_HOME/keys/<tenant>.key, mode 0600, created on first use). The scheme uses only the standard
library (no AES dependency):

- token id = base32(HMAC-SHA256(key, "tok|" + type + "|" + value))[:10]: the same value gives the same
  token within a tenant (joins and counts still work), different tenants give unrelated tokens;
- the value is stored encrypted in INHOUSE_HOME/vault.db as value XOR keystream, with keystream blocks
  HMAC-SHA256(key, "enc|" + token id + counter): a PRF in counter mode whose nonce (the token) is unique
  per value;
- on reveal the decrypted value must hash back to its token id, so a tampered row is refused.

Without the key file the vault rows are unreadable; deleting a tenant's key crypto-shreds its values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
from pathlib import Path

from inhouse.config import home
from inhouse.errors import InputError, NotFoundError, StoreError
from inhouse.files import private_db
from inhouse.guard.pii import PIIMatch, detect, replace

log = logging.getLogger(__name__)

TOKEN = re.compile(r"\[([A-Z_]+):([A-Z2-7]{10})\]")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    tenant TEXT NOT NULL,
    token TEXT NOT NULL,
    type TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (tenant, token)
);
"""


def _keystream(key: bytes, token: str, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.new(key, f"enc|{token}|{counter}".encode(), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


class Vault:
    """Tenant keys and the token table. Thread-safe; one SQLite connection."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base or home()
        self.keys_dir = self.base / "keys"
        self.path = self.base / "vault.db"
        private_db(self.path)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: the PII vault is unreadable ({e}); restore it from a backup.") from e
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}

    def close(self) -> None:
        self.conn.close()

    # --- keys ---

    def key(self, tenant: str, create: bool = True) -> bytes:
        """The tenant's 32-byte key, created (mode 0600) on first use when `create`."""
        if tenant in self._keys:
            return self._keys[tenant]
        if not tenant or "/" in tenant or tenant.startswith("."):
            raise InputError(f"invalid tenant '{tenant}' for the PII vault.")
        path = self.keys_dir / f"{tenant}.key"
        if not path.exists():
            if not create:
                raise NotFoundError(f"no PII key for tenant '{tenant}' ({path}); tokens of this tenant cannot be revealed.")
            self.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
                f.flush()
                os.fsync(f.fileno())
            log.info("created the PII vault key of tenant %s at %s (back it up: without it, its tokens are lost)",
                     tenant, path)
        key = path.read_bytes()
        if len(key) != 32:
            raise StoreError(f"{path}: a PII key must be 32 bytes, this one has {len(key)}; restore it from a backup.")
        self._keys[tenant] = key
        return key

    # --- tokens ---

    def token_id(self, tenant: str, type_: str, value: str) -> str:
        digest = hmac.new(self.key(tenant), f"tok|{type_}|{value}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:10]

    def tokenize_match(self, tenant: str, m: PIIMatch) -> str:
        """Store `m`'s value under its token and return the token text `[TYPE:ID]`."""
        tid = self.token_id(tenant, m.type, m.text)
        data = m.text.encode()
        ct = bytes(a ^ b for a, b in zip(data, _keystream(self.key(tenant), tid, len(data)), strict=True))
        with self._lock:
            self.conn.execute("INSERT OR IGNORE INTO tokens (tenant, token, type, ciphertext) VALUES (?, ?, ?, ?)",
                              (tenant, tid, m.type, ct))
        return f"[{m.type}:{tid}]"

    def tokenize(self, tenant: str, text: str) -> str:
        """`text` with every detected piece of PII replaced by a reversible token."""
        matches = detect(text)
        if not matches:
            return text
        with self._lock:
            self.conn.execute("BEGIN")
        try:
            out = replace(text, matches, lambda m: self.tokenize_match(tenant, m))
        except BaseException:
            with self._lock:
                self.conn.execute("ROLLBACK")
            raise
        with self._lock:
            self.conn.execute("COMMIT")
        return out

    def value(self, tenant: str, token: str) -> str | None:
        """The value behind a token id, or None when the vault does not know it for this tenant."""
        with self._lock:
            row = self.conn.execute("SELECT type, ciphertext FROM tokens WHERE tenant = ? AND token = ?",
                                    (tenant, token)).fetchone()
        if row is None:
            return None
        type_, ct = row
        key = self.key(tenant, create=False)
        value = bytes(a ^ b for a, b in zip(ct, _keystream(key, token, len(ct)), strict=True)).decode("utf-8", "replace")
        if not hmac.compare_digest(self.token_id(tenant, type_, value), token):
            raise StoreError(f"vault row {tenant}/{token} does not match its token (tampered or wrong key); "
                             "restore vault.db and the key from a backup.")
        return value

    def reveal(self, tenant: str, text: str) -> str:
        """`text` with this tenant's tokens replaced by their values (for roles cleared for PII).
        Tokens of other tenants or unknown tokens stay as they are."""

        def sub(m: re.Match[str]) -> str:
            v = self.value(tenant, m[2])
            return v if v is not None else m[0]

        return TOKEN.sub(sub, text)


def mask_tokens(text: str) -> str:
    """`text` with vault tokens shown as their bare type (`[PHONE:7KQ2M4XD9A]` → `[PHONE]`)."""
    return TOKEN.sub(lambda m: f"[{m[1]}]", text)
