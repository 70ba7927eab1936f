"""The consortium's own database: contributions, every text with the decision made about it, and the token ledger.

The ledger is append-only (triggers refuse UPDATE and DELETE) and hash-chained: each row's hash covers the
previous row's hash and its own fields, so an edit made behind the triggers' back (another SQLite client, a
restored file) breaks `verify()`. Reports are computed from the ledger alone, with integers, so the same ledger
always gives the same report, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from inhouse.config import home
from inhouse.consortium.canaries import Canary
from inhouse.consortium.shares import revenue_shares
from inhouse.dbfile import DBFile
from inhouse.errors import InputError, NotFoundError, StoreError
from inhouse.files import secure_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS contributions (
  id INTEGER PRIMARY KEY, partner TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL, added TEXT NOT NULL,
  withdrawn TEXT);
CREATE INDEX IF NOT EXISTS contributions_partner ON contributions (partner, id);
CREATE TABLE IF NOT EXISTS texts (
  id INTEGER PRIMARY KEY, contribution INTEGER NOT NULL REFERENCES contributions(id), pos INTEGER NOT NULL,
  text TEXT NOT NULL, lang TEXT NOT NULL, tokens INTEGER NOT NULL, key TEXT NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('kept', 'duplicate', 'near-duplicate', 'filtered')),
  reason TEXT NOT NULL, dup_of INTEGER REFERENCES texts(id), pii INTEGER NOT NULL, signature BLOB);
CREATE INDEX IF NOT EXISTS texts_key ON texts (key);
CREATE INDEX IF NOT EXISTS texts_contribution ON texts (contribution, pos);
CREATE TABLE IF NOT EXISTS ledger (
  seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, partner TEXT NOT NULL, contribution INTEGER NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('credit', 'withdraw')), tokens INTEGER NOT NULL, texts INTEGER NOT NULL,
  prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS canaries (
  id TEXT PRIMARY KEY, lang TEXT NOT NULL, secret TEXT NOT NULL UNIQUE, repeats INTEGER NOT NULL, added TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
  BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
  BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"""

GENESIS = "0" * 64
_PERIOD = "%Y-%m"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _row_hash(prev: str, ts: str, partner: str, contribution: int, event: str, tokens: int, texts: int) -> str:
    body = json.dumps([prev, ts, partner, contribution, event, tokens, texts], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _decimal(part: int, total: int, places: int = 6) -> str:
    """part / total rounded half up to `places` decimals, by integers (no float in a report)."""
    if total <= 0:
        return f"0.{'0' * places}"
    scale = 10 ** places
    q = (2 * part * scale + total) // (2 * total)
    return f"{q // scale}.{q % scale:0{places}d}"


def check_period(period: str) -> str:
    try:
        time.strptime(period, _PERIOD)
    except ValueError as e:
        raise InputError(f"period {period!r}: write it as YYYY-MM, e.g. 2026-12.") from e
    return period


class ConsortiumDB(DBFile):
    SCHEMA = SCHEMA
    WHAT = "consortium database"
    REBUILD = "restore it from a backup (its ledger decides partners' shares)"

    # ---- contributions and texts ---------------------------------------------------------------------------

    def contributions(self, partner: str | None = None) -> list[dict]:
        sql = "SELECT id, partner, source, sha256, added, withdrawn FROM contributions"
        args: tuple = ()
        if partner is not None:
            sql, args = sql + " WHERE partner = ?", (partner,)
        return [{"id": i, "partner": p, "source": s, "sha256": h, "added": a, "withdrawn": w}
                for i, p, s, h, a, w in self._rows(sql + " ORDER BY id", args)]

    def find_exact(self, key: str) -> int | None:
        """The earliest kept text of an active contribution with this exact key."""
        rows = self._rows("SELECT t.id FROM texts t JOIN contributions c ON c.id = t.contribution "
                          "WHERE t.key = ? AND t.decision = 'kept' AND c.withdrawn IS NULL ORDER BY t.id LIMIT 1",
                          (key,))
        return rows[0][0] if rows else None

    def signatures(self) -> list[tuple[int, np.ndarray]]:
        """(text id, signature) of every kept text of an active contribution that has one, oldest first."""
        return [(i, np.frombuffer(sig, dtype=np.uint64))
                for i, sig in self._rows("SELECT t.id, t.signature FROM texts t JOIN contributions c ON "
                                         "c.id = t.contribution WHERE t.decision = 'kept' AND t.signature IS NOT "
                                         "NULL AND c.withdrawn IS NULL ORDER BY t.id")]

    def next_text_id(self) -> int:
        return (self._rows("SELECT coalesce(max(id), 0) FROM texts")[0][0] or 0) + 1

    def add_contribution(self, partner: str, source: str, sha256: str, rows: list[dict]) -> dict:
        """One contribution with all its texts and its ledger credit, in one transaction. `rows` hold id, text,
        lang, tokens, key, decision, reason, dup_of, pii and signature (bytes or None) per text."""
        ts = now()
        with self.transaction() as c:
            cid = c.execute("INSERT INTO contributions (partner, source, sha256, added) VALUES (?,?,?,?)",
                            (partner, source, sha256, ts)).lastrowid
            c.executemany("INSERT INTO texts (id, contribution, pos, text, lang, tokens, key, decision, reason, "
                          "dup_of, pii, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                          [(r["id"], cid, pos, r["text"], r["lang"], r["tokens"], r["key"], r["decision"],
                            r["reason"], r["dup_of"], r["pii"], r["signature"]) for pos, r in enumerate(rows)])
            kept = [r for r in rows if r["decision"] == "kept"]
            self._append(c, ts, partner, cid, "credit", sum(r["tokens"] for r in kept), len(kept))
        return {"id": cid, "partner": partner, "source": source, "added": ts}

    def withdraw(self, partner: str, contribution: int | None = None) -> list[dict]:
        """Withdraw one contribution of `partner` (or all its active ones): excluded from exports from now on,
        and its tokens debited in the ledger, once: a contribution another request withdrew meanwhile is not
        debited again. Returns what was withdrawn."""
        ts = now()
        out = []
        with self.transaction() as c:
            sql, args = "SELECT id, source, sha256, added FROM contributions WHERE partner = ? AND withdrawn IS NULL", \
                [partner]
            if contribution is not None:
                sql, args = sql + " AND id = ?", [partner, contribution]
            for cid, source, sha, added in c.execute(sql + " ORDER BY id", args).fetchall():
                if c.execute("UPDATE contributions SET withdrawn = ? WHERE id = ? AND withdrawn IS NULL",
                             (ts, cid)).rowcount != 1:
                    continue
                tokens, texts = c.execute("SELECT coalesce(sum(tokens), 0), count(*) FROM texts WHERE contribution "
                                          "= ? AND decision = 'kept'", (cid,)).fetchone()
                self._append(c, ts, partner, cid, "withdraw", -tokens, -texts)
                out.append({"id": cid, "partner": partner, "source": source, "sha256": sha, "added": added,
                            "withdrawn": ts, "tokens": tokens, "texts": texts})
        if not out:
            what = f"contribution {contribution} of " if contribution is not None else "an active contribution of "
            raise NotFoundError(f"no {what}partner {partner!r}; see `inhouse consortium list`.")
        return out

    def texts(self, contribution: int) -> list[dict]:
        return [{"id": i, "pos": p, "text": t, "lang": lang, "tokens": n, "decision": d, "reason": r, "dup_of": dup,
                 "pii": pii}
                for i, p, t, lang, n, d, r, dup, pii in self._rows(
                    "SELECT id, pos, text, lang, tokens, decision, reason, dup_of, pii FROM texts WHERE "
                    "contribution = ? ORDER BY pos", (contribution,))]

    def training_texts(self) -> list[dict]:
        """Every kept text of an active contribution with its provenance, in a fixed order."""
        return [{"text_id": i, "text": t, "lang": lang, "tokens": n, "partner": p, "contribution": c, "source": s,
                 "sha256": hashlib.sha256(t.encode("utf-8")).hexdigest()}
                for i, t, lang, n, p, c, s in self._rows(
                    "SELECT t.id, t.text, t.lang, t.tokens, c.partner, c.id, c.source FROM texts t JOIN "
                    "contributions c ON c.id = t.contribution WHERE t.decision = 'kept' AND c.withdrawn IS NULL "
                    "ORDER BY t.id")]

    def all_texts(self) -> list[tuple[int, str]]:
        """(id, text) of every text ever kept, withdrawn contributions included (a model trained before a
        withdrawal may still carry them, so the copy filter keeps guarding them), and the canaries (negative
        ids)."""
        kept = [(i, t) for i, t in self._rows("SELECT id, text FROM texts WHERE decision = 'kept' ORDER BY id")]
        return kept + [(-n, c.text) for n, c in enumerate(self.canaries(), start=1)]

    # ---- canaries (the extraction audit) -------------------------------------------------------------------

    def add_canaries(self, canaries: list[Canary]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT INTO canaries VALUES (?,?,?,?,?)",
                          [(k.id, k.lang, k.secret, k.repeats, now()) for k in canaries])

    def canaries(self) -> list[Canary]:
        return [Canary(i, lang, secret, r) for i, lang, secret, r in self._rows(
            "SELECT id, lang, secret, repeats FROM canaries ORDER BY added, id")]

    def decisions(self) -> dict[str, int]:
        return {d: n for d, n in self._rows("SELECT decision, count(*) FROM texts GROUP BY decision ORDER BY decision")}

    # ---- the ledger ----------------------------------------------------------------------------------------

    def _append(self, c, ts: str, partner: str, contribution: int, event: str, tokens: int,  # noqa: ANN001
                texts: int) -> None:
        last = c.execute("SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS
        c.execute("INSERT INTO ledger (ts, partner, contribution, event, tokens, texts, prev, hash) "
                  "VALUES (?,?,?,?,?,?,?,?)",
                  (ts, partner, contribution, event, tokens, texts, prev,
                   _row_hash(prev, ts, partner, contribution, event, tokens, texts)))

    def ledger(self) -> list[dict]:
        return [{"seq": s, "ts": ts, "partner": p, "contribution": c, "event": e, "tokens": n, "texts": t,
                 "prev": prev, "hash": h}
                for s, ts, p, c, e, n, t, prev, h in self._rows(
                    "SELECT seq, ts, partner, contribution, event, tokens, texts, prev, hash FROM ledger ORDER BY seq")]

    def verify(self, rows: list[dict] | None = None) -> str:
        """The ledger's head hash after checking every link (of `rows`, default the whole ledger read now), and
        that every contribution has its credit and, when withdrawn, its debit; StoreError naming the first
        problem."""
        rows = self.ledger() if rows is None else rows
        credits = {r["contribution"] for r in rows if r["event"] == "credit"}
        debits = {r["contribution"] for r in rows if r["event"] == "withdraw"}
        for c in self.contributions():
            if c["id"] not in credits or (c["withdrawn"] is not None) != (c["id"] in debits):
                raise StoreError(f"contribution {c['id']} of {c['partner']} does not match the ledger (its "
                                 f"{'debit' if c['id'] in credits else 'credit'} is missing or extra): it was changed "
                                 "outside InHouse. Restore the database from a backup.")
        prev = GENESIS
        for r in rows:
            expected = _row_hash(prev, r["ts"], r["partner"], r["contribution"], r["event"], r["tokens"], r["texts"])
            if r["prev"] != prev or r["hash"] != expected:
                raise StoreError(f"the consortium ledger is broken at row {r['seq']} ({r['event']} for "
                                 f"{r['partner']}): it was changed outside InHouse. Restore the database from a "
                                 "backup; reports from it cannot be trusted.")
            prev = r["hash"]
        return prev

    def report(self, period: str, revenue: int) -> dict:
        """Each partner's tokens in training at the end of `period` (YYYY-MM), what was credited and withdrawn
        during it, and its share of `revenue` (whole units, by tokens). Computed from the verified ledger only."""
        check_period(period)
        if revenue < 0:
            raise InputError("revenue must be zero or more (whole currency units).")
        ledger = self.ledger()
        head = self.verify(ledger)
        rows = [r for r in ledger if r["ts"][:7] <= period]
        partners = sorted({r["partner"] for r in rows})
        active = {p: sum(r["tokens"] for r in rows if r["partner"] == p) for p in partners}
        shares = revenue_shares(active, revenue)
        total = sum(v for v in active.values() if v > 0)
        return {
            "period": period, "revenue": revenue, "ledger_rows": len(rows), "ledger_head": head,
            "total_tokens": total,
            "partners": [{
                "partner": p, "tokens": active[p],
                "texts": sum(r["texts"] for r in rows if r["partner"] == p),
                "credited_in_period": sum(r["tokens"] for r in rows if r["partner"] == p and r["event"] == "credit"
                                          and r["ts"][:7] == period),
                "withdrawn_in_period": -sum(r["tokens"] for r in rows if r["partner"] == p
                                            and r["event"] == "withdraw" and r["ts"][:7] == period),
                "share": _decimal(max(active[p], 0), total),
                "revenue": shares[p]} for p in partners],
        }


def open_consortium(base: Path | None = None, create: bool = False) -> ConsortiumDB:
    """The consortium's database, `home()/consortium/consortium.sqlite`: its own folder, private to this user, and
    never opened by search, chat or answers."""
    folder = (base or home()) / "consortium"
    path = folder / "consortium.sqlite"
    if not create and not path.exists():
        raise NotFoundError("no consortium contributions yet; add some with "
                            "`inhouse consortium add --partner P FILES`.")
    secure_dir(folder)
    return ConsortiumDB(path)
