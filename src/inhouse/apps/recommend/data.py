"""Interaction and catalog data: parsing CSV/JSONL, validation report, id mapping, matrices, splits.

An interaction file has one event a row: user, item, timestamp, and optionally an event type and a
weight. Rows that cannot be used are reported with their line numbers (never silently dropped);
identical events (same user, item, timestamp and event type) are counted once. Repeated interactions
of a user with an item are merged into one user-item pair whose time is the first occurrence (so the
last pair in time is the last *new* item, which is what leave-last-out evaluation predicts) and whose
weight is the sum of the events' weights.

Inside the engine items are indexed by descending training popularity, so a stable sort on scores
breaks ties in favour of popular items, identically in serving and evaluation.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from inhouse.errors import InputError, NotFoundError

log = logging.getLogger(__name__)

USER_KEYS = ("user", "user_id", "userid", "customer", "customer_id", "visitor", "visitor_id", "session_id")
ITEM_KEYS = ("item", "item_id", "itemid", "product", "product_id", "sku", "movie_id", "movieid")
TIME_KEYS = ("timestamp", "ts", "time", "datetime", "date", "event_time", "eventdate")
EVENT_KEYS = ("event", "event_type", "type", "action")
WEIGHT_KEYS = ("weight", "value", "strength")
# Default weight of an event type when the file has no weight column; unknown types weigh 1.
EVENT_WEIGHTS = {
    "view": 1.0,
    "click": 1.0,
    "detail": 1.0,
    "like": 2.0,
    "wishlist": 2.0,
    "cart": 2.0,
    "add_to_cart": 2.0,
    "addtocart": 2.0,
    "purchase": 3.0,
    "order": 3.0,
    "transaction": 3.0,
    "buy": 3.0,
}
MAX_LISTED = 50  # malformed/duplicate lines listed in a report; the counts are always complete


@dataclass
class LoadReport:
    """What happened to each row of an interaction file."""

    path: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    malformed: int = 0
    malformed_lines: list[tuple[int, str]] = field(default_factory=list)
    merged_repeats: int = 0  # events of an already-seen user-item pair (kept as one pair)
    time_from_order: bool = False

    def add_malformed(self, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_lines) < MAX_LISTED:
            self.malformed_lines.append((line, reason))

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "duplicate_lines": self.duplicate_lines,
            "malformed": self.malformed,
            "malformed_lines": [{"line": ln, "reason": r} for ln, r in self.malformed_lines],
            "merged_repeats": self.merged_repeats,
            "time_from_order": self.time_from_order,
        }


@dataclass
class Events:
    """Accepted raw events (string ids), in file order."""

    users: list[str]
    items: list[str]
    ts: np.ndarray  # float64 seconds (or line order when the file has no time column)
    weights: np.ndarray  # float32
    lines: np.ndarray  # int64 line numbers, for tie-breaking equal timestamps by file order


@dataclass
class Interactions:
    """Unique user-item pairs, sorted by user then time; ids mapped to dense indices.

    `items` index i is `item_ids[i]`; items are ordered by descending popularity in these pairs.
    `indptr` delimits each user's pairs (time order) like a CSR matrix.
    """

    users: np.ndarray  # int32, sorted
    items: np.ndarray  # int32
    ts: np.ndarray  # float64
    weights: np.ndarray  # float32
    user_ids: list[str]
    item_ids: list[str]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def indptr(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(np.bincount(self.users, minlength=self.n_users))]).astype(
            np.int64
        )

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The pairs where mask holds, with the same id spaces."""
        return Interactions(
            self.users[mask],
            self.items[mask],
            self.ts[mask],
            self.weights[mask],
            self.user_ids,
            self.item_ids,
        )


def _pick(keys: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {k.strip().lower().split(":")[0]: k for k in keys}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return None


def parse_time(raw: str) -> float:
    """Seconds since the epoch from a number or an ISO 8601 date/time; ValueError otherwise."""
    raw = raw.strip()
    if not raw:
        raise ValueError("empty timestamp")
    try:
        v = float(raw)
    except ValueError:
        v = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    if not math.isfinite(v):
        raise ValueError(f"timestamp {raw!r} is not finite")
    return v


def _rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict | None, str | None]]]:
    """Column names and an iterator of (line number, row dict or None, error)."""
    if not path.exists():
        raise NotFoundError(f"{path} does not exist.")
    suffix = path.suffix.lower()
    f = path.open("r", encoding="utf-8-sig", newline="")
    if suffix in (".jsonl", ".ndjson", ".json"):
        first_keys: list[str] = []

        def gen_json() -> Iterator[tuple[int, dict | None, str | None]]:
            with f:
                for ln, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        yield ln, None, f"invalid JSON ({e.msg})"
                        continue
                    if not isinstance(obj, dict):
                        yield ln, None, "not a JSON object"
                        continue
                    yield ln, {str(k): ("" if v is None else str(v)) for k, v in obj.items()}, None

        # Peek the first object's keys for column detection.
        with path.open("r", encoding="utf-8-sig") as peek:
            for line in peek:
                if line.strip():
                    try:
                        obj = json.loads(line)
                        first_keys = list(obj) if isinstance(obj, dict) else []
                    except json.JSONDecodeError:
                        pass
                    break
        return first_keys, gen_json()
    header = f.readline()
    if not header.strip():
        f.close()
        raise InputError(f"{path} is empty; expected a header line such as 'user,item,timestamp'.")
    delim = max(("\t", ",", ";", "|"), key=header.count)
    cols = next(csv.reader([header], delimiter=delim))

    def gen_csv() -> Iterator[tuple[int, dict | None, str | None]]:
        with f:
            reader = csv.reader(f, delimiter=delim)
            prev = 1
            for fields in reader:
                ln = prev + 1
                prev = reader.line_num + 1
                if not fields or all(not x.strip() for x in fields):
                    continue
                if len(fields) != len(cols):
                    yield ln, None, f"expected {len(cols)} fields, found {len(fields)}"
                    continue
                yield ln, dict(zip(cols, fields, strict=True)), None

    return cols, gen_csv()


def read_events(path: str | Path) -> tuple[Events, LoadReport]:
    """Parse an interaction file (CSV/TSV with a header, or JSONL). Raises InputError if nothing is usable."""
    path = Path(path)
    cols, rows = _rows(path)
    ucol, icol = _pick(cols, USER_KEYS), _pick(cols, ITEM_KEYS)
    tcol, ecol, wcol = _pick(cols, TIME_KEYS), _pick(cols, EVENT_KEYS), _pick(cols, WEIGHT_KEYS)
    if ucol is None or icol is None:
        raise InputError(
            f"{path}: no user/item columns in {cols}; name them 'user' and 'item' "
            "(also accepted: user_id, customer_id, item_id, product_id, sku)."
        )
    report = LoadReport(path=str(path), time_from_order=tcol is None)
    users: list[str] = []
    items: list[str] = []
    ts: list[float] = []
    ws: list[float] = []
    lines: list[int] = []
    kinds: list[str] = []
    per_row = path.suffix.lower() in (".jsonl", ".ndjson", ".json")  # JSON objects may differ in keys
    picked: dict[tuple[str, ...], tuple[str | None, ...]] = {}
    tcol_row = tcol
    for ln, row, error in rows:
        report.rows += 1
        if row is None:
            report.add_malformed(ln, error or "unreadable")
            continue
        if per_row:
            keys = tuple(row)
            if keys not in picked:
                ks = list(keys)
                picked[keys] = (
                    _pick(ks, USER_KEYS) or ucol,
                    _pick(ks, ITEM_KEYS) or icol,
                    _pick(ks, TIME_KEYS) or tcol,
                    _pick(ks, EVENT_KEYS),
                    _pick(ks, WEIGHT_KEYS),
                )
            ucol, icol, tcol_row, ecol, wcol = picked[keys]
            if tcol is not None and tcol_row is None:
                report.add_malformed(ln, "no timestamp")
                continue
        tkey = tcol_row if per_row else tcol
        u, i = row.get(ucol, "").strip(), row.get(icol, "").strip()
        if not u or not i:
            report.add_malformed(ln, "empty user" if not u else "empty item")
            continue
        if tcol is not None:
            try:
                t = parse_time(row.get(tkey, ""))
            except ValueError as e:
                report.add_malformed(ln, f"bad timestamp {row.get(tkey, '')!r}: {e}")
                continue
        else:
            t = float(ln)
        event = row.get(ecol, "").strip().lower() if ecol else ""
        if wcol is not None and row.get(wcol, "").strip():
            try:
                w = float(row[wcol])
            except ValueError:
                report.add_malformed(ln, f"bad weight {row[wcol]!r}")
                continue
            if not math.isfinite(w) or w <= 0:
                report.add_malformed(ln, f"weight must be a positive number, got {row[wcol]!r}")
                continue
        else:
            w = EVENT_WEIGHTS.get(event, 1.0)
        users.append(u)
        items.append(i)
        ts.append(t)
        ws.append(w)
        lines.append(ln)
        kinds.append(event)
    if not users:
        detail = "; ".join(f"line {ln}: {r}" for ln, r in report.malformed_lines[:5])
        raise InputError(
            f"{path}: no usable interaction rows ({report.malformed} malformed{': ' + detail if detail else ''})."
        )
    # Identical events (user, item, time, event type) count once: the first line is kept (vectorised,
    # so memory stays ∝ rows instead of a set of tuples).
    t_arr = np.asarray(ts, np.float64)
    keys = [_codes(users, None)[0], _codes(items, None)[0], _codes(kinds, None)[0]]
    order = np.lexsort((np.arange(len(users)), keys[2], t_arr, keys[1], keys[0]))
    same = np.zeros(len(users), bool)
    same[1:] = (
        (keys[0][order][1:] == keys[0][order][:-1])
        & (keys[1][order][1:] == keys[1][order][:-1])
        & (t_arr[order][1:] == t_arr[order][:-1])
        & (keys[2][order][1:] == keys[2][order][:-1])
    )
    dup = np.sort(order[same])
    report.duplicates = len(dup)
    report.duplicate_lines = [lines[k] for k in dup[:MAX_LISTED]]
    keep = np.ones(len(users), bool)
    keep[dup] = False
    if len(dup):
        idx = np.flatnonzero(keep)
        users = [users[k] for k in idx]
        items = [items[k] for k in idx]
    report.accepted = len(users)
    if report.malformed or report.duplicates:
        log.warning("%s: %d of %d rows malformed and %d duplicates left out (first malformed lines: %s)", path,
                    report.malformed, report.rows, report.duplicates,
                    ", ".join(str(ln) for ln, _ in report.malformed_lines[:5]) or "none")
    log.info("%s: %d interactions read", path, report.accepted)
    events = Events(
        users, items, t_arr[keep], np.asarray(ws, np.float32)[keep], np.asarray(lines, np.int64)[keep]
    )
    return events, report


def build_interactions(
    events: Events,
    report: LoadReport | None = None,
    user_ids: list[str] | None = None,
    item_ids: list[str] | None = None,
) -> Interactions:
    """Merge events into unique user-item pairs and map ids.

    Without `item_ids`, items are indexed by descending popularity (ties: first appearance). With given
    id lists (fold-in) known ids keep their index and new ids are appended in order of appearance.
    """
    u_codes, u_uniq = _codes(events.users, user_ids)
    i_codes, i_uniq = _codes(events.items, item_ids)
    if item_ids is None:
        counts = np.bincount(i_codes, minlength=len(i_uniq))
        order = np.argsort(-counts, kind="stable")  # first-appearance order among equal counts
        remap = np.empty_like(order)
        remap[order] = np.arange(len(order))
        i_codes = remap[i_codes]
        i_uniq = [i_uniq[k] for k in order]
    # Merge repeats: first time, summed weight.
    order = np.lexsort((events.lines, events.ts, i_codes, u_codes))
    u, i, t, w = u_codes[order], i_codes[order], events.ts[order], events.weights[order]
    new_pair = np.ones(len(u), bool)
    new_pair[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    starts = np.flatnonzero(new_pair)
    if report is not None:
        report.merged_repeats = int(len(u) - len(starts))
    wsum = np.add.reduceat(w, starts).astype(np.float32)
    lines_sorted = events.lines[order][starts]
    u, i, t = u[starts], i[starts], t[starts]
    # Sort pairs by user, then time, then file line.
    order = np.lexsort((lines_sorted, t, u))
    return Interactions(
        u[order].astype(np.int32), i[order].astype(np.int32), t[order], wsum[order], u_uniq, i_uniq
    )


def _codes(values: list[str], known: list[str] | None) -> tuple[np.ndarray, list[str]]:
    index: dict[str, int] = {v: k for k, v in enumerate(known)} if known is not None else {}
    uniq = list(known) if known is not None else []
    codes = np.empty(len(values), np.int64)
    for k, v in enumerate(values):
        c = index.get(v)
        if c is None:
            c = index[v] = len(uniq)
            uniq.append(v)
        codes[k] = c
    return codes, uniq


def load_interactions(path: str | Path) -> tuple[Interactions, LoadReport]:
    """Read and map an interaction file."""
    events, report = read_events(path)
    return build_interactions(events, report), report


def from_arrays(
    users: np.ndarray, items: np.ndarray, ts: np.ndarray | None = None, weights: np.ndarray | None = None
) -> Interactions:
    """Interactions from integer/str arrays (benchmarks and tests); time defaults to array order."""
    n = len(users)
    ev = Events(
        [str(x) for x in users],
        [str(x) for x in items],
        np.arange(n, dtype=np.float64) if ts is None else np.asarray(ts, np.float64),
        np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32),
        np.arange(n, dtype=np.int64),
    )
    return build_interactions(ev)


def user_item_matrix(
    inter: Interactions, n_users: int | None = None, n_items: int | None = None
) -> sp.csr_matrix:
    """Users × items CSR of pair weights (float32)."""
    shape = (n_users or inter.n_users, n_items or inter.n_items)
    m = sp.csr_matrix((inter.weights, (inter.users, inter.items)), shape=shape, dtype=np.float32)
    m.sort_indices()
    return m


def sequences(inter: Interactions, n_users: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, items) of each user's pairs in time order (pairs are stored sorted by user, time)."""
    n = n_users or inter.n_users
    indptr = np.concatenate([[0], np.cumsum(np.bincount(inter.users, minlength=n))]).astype(np.int64)
    return indptr, inter.items.astype(np.int32)


@dataclass
class Split:
    """Training pairs and held-out targets (user index → target item indices)."""

    name: str
    train: Interactions
    test_users: np.ndarray  # int32, one row per (user, target)
    test_items: np.ndarray  # int32


def leave_last_out(inter: Interactions, min_history: int = 1) -> Split:
    """Each user's last pair in time is the target; users need `min_history` earlier pairs."""
    indptr = inter.indptr
    lengths = np.diff(indptr)
    users = np.flatnonzero(lengths >= min_history + 1)
    last = indptr[users + 1] - 1
    mask = np.ones(len(inter), bool)
    mask[last] = False
    return Split(
        "leave-last-out", inter.subset(mask), users.astype(np.int32), inter.items[last].astype(np.int32)
    )


def temporal_split(inter: Interactions, test_fraction: float = 0.1) -> Split:
    """Global time cut: pairs after the (1 - test_fraction) time quantile are targets of users seen before."""
    if not 0 < test_fraction < 1:
        raise InputError("test_fraction must be between 0 and 1.")
    cut = float(np.quantile(inter.ts, 1 - test_fraction))
    train_mask = inter.ts <= cut
    seen = np.zeros(inter.n_users, bool)
    seen[inter.users[train_mask]] = True
    test_mask = ~train_mask & seen[inter.users]
    return Split(
        "temporal",
        inter.subset(train_mask),
        inter.users[test_mask].astype(np.int32),
        inter.items[test_mask].astype(np.int32),
    )


@dataclass
class Catalog:
    """Item texts from a catalog file, by item id."""

    texts: dict[str, str]
    report: LoadReport


TEXT_SKIP = {"price", "stock", "qty", "quantity", "created", "updated"}


def load_catalog(path: str | Path) -> Catalog:
    """Item id and text (all other non-numeric columns joined) from a CSV/TSV/JSONL catalog."""
    path = Path(path)
    cols, rows = _rows(path)
    icol = _pick(cols, ITEM_KEYS + ("id",))
    if icol is None:
        raise InputError(
            f"{path}: no item id column in {cols}; name it 'item' (or item_id, product_id, sku, id)."
        )
    report = LoadReport(path=str(path))
    texts: dict[str, str] = {}
    for ln, row, error in rows:
        report.rows += 1
        if row is None:
            report.add_malformed(ln, error or "unreadable")
            continue
        item = row.get(icol, "").strip()
        if not item:
            report.add_malformed(ln, "empty item id")
            continue
        parts = []
        for k, v in row.items():
            v = v.strip()
            if k == icol or not v or k.lower().split(":")[0] in TEXT_SKIP:
                continue
            try:
                float(v)
                continue  # numbers are not descriptive text
            except ValueError:
                parts.append(v)
        if item in texts:
            report.duplicates += 1
            if len(report.duplicate_lines) < MAX_LISTED:
                report.duplicate_lines.append(ln)
            continue
        texts[item] = " ".join(parts)
    report.accepted = len(texts)
    if not texts:
        raise InputError(f"{path}: no usable catalog rows.")
    return Catalog(texts, report)
