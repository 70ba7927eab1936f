"""Counted slots shared by every process of a deployment: PostgreSQL session advisory locks.

A named resource with `n` slots (an engine that takes 4 requests at once, the 12 places of the generation
queue, one tenant's 9 places) is `n` advisory locks (key: the name's hash, slot number). Taking a slot is
`pg_try_advisory_lock` on a free one, on a connection kept for as long as the slot is held; giving it back
unlocks it. A process that dies takes its connections, and so its slots, with it: nothing to clean up, no
lease to expire. How many slots of a name are held, by all processes, is read from pg_locks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence

from inhouse.errors import StoreError

log = logging.getLogger(__name__)


def _key(name: str) -> int:
    """The name's lock class: 31 bits, so it reads the same as a signed int4 and as pg_locks' oid."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big") & 0x7FFF_FFFF


class Slot:
    """One held slot; `release()` (or leaving a `with` block) gives it back."""

    def __init__(self, owner: SharedSlots, conn, key: int, number: int, name: str) -> None:  # noqa: ANN001
        self._owner, self._conn, self.key, self.number, self.name = owner, conn, key, number, name
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._owner._give_back(self._conn, self.key, self.number)

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SharedSlots:
    """Slots of named resources across processes, over one PostgreSQL database (`url`)."""

    def __init__(self, url: str, idle: int = 8) -> None:
        from inhouse.store.postgres import connect, describe

        self.url, self.location, self._connect = url, describe(url), connect
        self._idle: list = []
        self._max_idle = idle
        self._lock = threading.Lock()
        self._conn().close()  # reachable now, or a clear error at start

    def _conn(self):  # noqa: ANN202
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn
        return self._connect(self.url, 5)

    def _give_back(self, conn, key: int, number: int) -> None:  # noqa: ANN001
        try:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (key, number))
        except Exception as e:  # noqa: BLE001 - a lost connection has released its locks already
            log.warning("could not unlock slot %d of %d on %s (%s); the connection is dropped", number, key,
                        self.location, e)
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def take(self, name: str, slots: int) -> Slot | None:
        """A free slot of `name` (one of `slots`), or None when all are held."""
        import psycopg

        key = _key(name)
        conn = self._conn()
        try:
            got = conn.execute("SELECT n FROM generate_series(0, %s - 1) AS n WHERE pg_try_advisory_lock(%s, n) "
                               "LIMIT 1", (slots, key)).fetchone()
        except psycopg.OperationalError as e:
            conn.close()
            raise StoreError(f"the slot database at {self.location} is unreachable ({e}).") from e
        if got is None:
            self._give_back_idle(conn)
            return None
        return Slot(self, conn, key, got[0], name)

    def _give_back_idle(self, conn) -> None:  # noqa: ANN001
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def held(self, names: Sequence[str]) -> dict[str, int]:
        """How many slots of each name are held now, by every process."""
        keys = {_key(n): n for n in names}
        conn = self._conn()
        try:
            rows = conn.execute(
                "SELECT classid::bigint, count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
                "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid::bigint = ANY(%s) GROUP BY classid", (list(keys),)).fetchall()
        finally:
            self._give_back_idle(conn)
        counts = dict.fromkeys(names, 0)
        for key, n in rows:
            counts[keys[int(key)]] = int(n)
        return counts

    def close(self) -> None:
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()
