"""The bounded generation queue: one model, a few waiting requests, and a fast "come back later".

llama.cpp generates for one request at a time (the model holds one KV state), so generation requests
wait their turn; a queue without a bound would let latency grow without limit under load. When
`workers + max_waiting` requests are already in, a new one is refused at once with QueueFull, which the
HTTP layer turns into 429 with a Retry-After estimated from recent generation times. Retrieval never
enters this queue: searches run concurrently on the request threads.

Fairness between tenants: one tenant may hold at most `per_tenant` places (by default all but a quarter
of the waiting places, which stay free for the others), and when a slot frees, the waiting request of
the tenant served least recently goes next (round robin between tenants, first come first served within
one). One busy key can no longer fill the queue nor make the other tenants wait behind all its requests.

Across server processes (replicas sharing one PostgreSQL, `shared`): each admitted request also holds one of
the deployment's `workers + max_waiting` places and one of its tenant's `per_tenant` places (advisory locks,
inhouse.store.locks), so the 429 bound and the per-tenant bound hold for the deployment, not per process; a
process that dies gives its places back with its connections.

Cancellation: each admitted job carries a `threading.Event`; the worker checks it between tokens and
stops consuming the model's iterator (closing it), so a client that disconnects frees the model.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager

from inhouse.errors import InHouseError

log = logging.getLogger(__name__)


class QueueFull(InHouseError):
    """Every generation slot and waiting place is taken (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a generation when its client went away."""


class GenerationQueue:
    def __init__(self, workers: int = 1, max_waiting: int = 8, per_tenant: int | None = None,
                 shared=None) -> None:  # noqa: ANN001 - inhouse.store.locks.SharedSlots
        self.workers, self.max_waiting = workers, max_waiting
        self.shared = shared
        self.per_tenant = per_tenant or self.capacity - max_waiting // 4
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)
        self._waiting: list[Ticket] = []  # tickets waiting for a slot, in arrival order
        self._held: Counter[str] = Counter()  # places held per tenant
        self._last_start: dict[str, int] = {}  # tenant → serial number of its last start
        self._serial = itertools.count(1)
        self.admitted = 0  # running + waiting
        self.running = 0
        self.rejected = 0
        self.cancelled = 0
        self.completed = 0
        self._recent: deque[float] = deque(maxlen=20)  # seconds per recent generation

    @property
    def capacity(self) -> int:
        return self.workers + self.max_waiting

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the queue ahead times the recent mean generation time."""
        mean = sum(self._recent) / len(self._recent) if self._recent else 2.0
        return max(1, math.ceil(mean * max(1, self.admitted - self.workers + 1) / self.workers))

    def admit(self, tenant: str = "") -> Ticket:
        """A place in the queue for a request of `tenant`, or QueueFull at once (never blocks)."""
        with self._lock:
            if self.admitted >= self.capacity:
                self.rejected += 1
                log.warning("generation queue full (%d running or queued): a request of tenant %s gets 429",
                            self.admitted, tenant)
                raise QueueFull(
                    f"the server is busy ({self.admitted} generations running or queued); retry after "
                    f"{self.retry_after()} s.", self.retry_after())
            if self._held[tenant] >= self.per_tenant:
                self.rejected += 1
                log.warning("tenant %s holds %d generation places, its most: a request of it gets 429", tenant,
                            self._held[tenant])
                raise QueueFull(
                    f"this tenant already has {self._held[tenant]} generations running or queued (the most one "
                    f"tenant may hold); retry after {self.retry_after()} s.", self.retry_after())
            self.admitted += 1
            self._held[tenant] += 1
        try:
            places = self._shared_places(tenant)
        except BaseException:
            self._leave(tenant, None, False)
            raise
        return Ticket(self, tenant, places)

    def _shared_places(self, tenant: str) -> list:
        """The deployment's place and the tenant's, or QueueFull (nothing held) when either is taken."""
        if self.shared is None:
            return []
        place = self.shared.take("queue:places", self.capacity)
        if place is None:
            with self._lock:
                self.rejected += 1
            log.warning("generation places of every server process taken: a request of tenant %s gets 429", tenant)
            raise QueueFull(f"the service is busy (all {self.capacity} generation places of its servers are "
                            f"taken); retry after {self.retry_after()} s.", self.retry_after())
        own = self.shared.take(f"queue:tenant:{tenant}", self.per_tenant)
        if own is None:
            place.release()
            with self._lock:
                self.rejected += 1
            raise QueueFull(f"this tenant already has {self.per_tenant} generations running or queued on the "
                            f"service's servers (the most one tenant may hold); retry after {self.retry_after()} s.",
                            self.retry_after())
        return [place, own]

    def _next(self) -> Ticket | None:
        """The waiting ticket whose tenant started least recently; the first to arrive within a tenant."""
        if not self._waiting:
            return None
        return min(self._waiting, key=lambda t: self._last_start.get(t.tenant, 0))

    def _leave(self, tenant: str, seconds: float | None, cancelled: bool) -> None:
        with self._lock:
            self.admitted -= 1
            self._held[tenant] -= 1
            if not self._held[tenant]:
                del self._held[tenant]
            if cancelled:
                self.cancelled += 1
                log.info("a generation of tenant %s was cancelled (its client went away)", tenant)
            elif seconds is not None:
                self.completed += 1
                self._recent.append(seconds)


class Ticket:
    """One admitted request. `run()` waits for a generation slot (call it on a worker thread) and keeps it until
    `finish()`: a request's generations (the draft, a follow-up, the judge's questions about its claims) run
    back to back, not each behind another request's, and the request holds its place in the queue until it is
    over, so the 429 bound and the recent times behind Retry-After count all of its work."""

    def __init__(self, queue: GenerationQueue, tenant: str = "", places: list | None = None) -> None:
        self.queue, self.tenant = queue, tenant
        self._places = places or []  # shared places (across server processes), given back by finish()
        self.cancel = threading.Event()
        self._started: float | None = None  # when the slot was taken
        self._done = False

    @contextmanager
    def run(self) -> Iterator[threading.Event]:
        q = self.queue
        if self._done:
            raise RuntimeError("this ticket is finished; admit() another")
        if self._started is None:
            with q._turn:
                q._waiting.append(self)
                try:
                    while q.running >= q.workers or q._next() is not self:
                        if self.cancel.is_set():
                            raise Cancelled()
                        q._turn.wait(timeout=0.1)
                finally:
                    q._waiting.remove(self)
                    q._turn.notify_all()  # who is next in line has changed
                q.running += 1
                q._last_start[self.tenant] = next(q._serial)
            self._started = time.perf_counter()
        elif self.cancel.is_set():
            raise Cancelled()
        yield self.cancel

    def finish(self) -> None:
        """Give the slot and the place back: the request is over (answered, failed, or cancelled)."""
        if self._done:
            return
        self._done = True
        q = self.queue
        seconds = None
        if self._started is not None:
            seconds = time.perf_counter() - self._started
            with q._turn:
                q.running -= 1
                q._turn.notify_all()
        for place in self._places:
            place.release()
        q._leave(self.tenant, seconds, self.cancel.is_set())
