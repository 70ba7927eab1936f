"""A pool of OpenAI-compatible inference engines (vLLM, llama.cpp's server, any /v1/chat/completions) behind one
`ChatModel`, for when one machine's model is not enough.

Routing: each request goes to the least busy engine (requests in flight over its concurrency), ties in turn.
An engine takes at most `concurrency` requests at once; when all are full a request waits for a slot (up to
`timeout`), and the server's generation queue in front keeps the waiting bounded.
Failures: a request that fails before any of its text was written (connection refused or reset, a timeout,
an HTTP 5xx) is idempotent and is sent to another engine; once text has streamed to the client it cannot be
taken back, so the error is reported (`Unavailable`, HTTP 503 with Retry-After). With `slots` (PostgreSQL
advisory locks, inhouse.store.locks) an engine's concurrency and the least-busy choice count the requests of
every server process that shares the database. After `failures` failures in
a row an engine's circuit opens: it gets no traffic for `cooldown` seconds, then one health check (GET
/models) decides whether it is tried again. Every engine's host must pass the egress allow-list.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException

from inhouse.errors import InHouseError, InputError, NotFoundError
from inhouse.models.chat import _NO_REDIRECTS, ModelServerError, OpenAICompatChat
from inhouse.protocols import Reply

log = logging.getLogger(__name__)

ENGINES = ("vllm", "llamacpp", "openai")


class Unavailable(InHouseError):
    """No engine could serve the request now (HTTP 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _ClientGone(Exception):  # noqa: N818 - wraps what the caller's on_piece raised
    def __init__(self, inner: BaseException) -> None:
        self.inner = inner


@dataclass
class Engine:
    url: str
    chat: OpenAICompatChat
    concurrency: int
    in_flight: int = 0
    failures: int = 0  # in a row
    open_until: float = 0.0  # circuit open (no traffic) until then
    served: int = 0
    failed: int = 0
    last_error: str = ""
    probing: bool = field(default=False, repr=False)

    def state(self, now: float) -> str:
        if self.open_until > now:
            return "open"
        return "half-open" if self.open_until else "closed"

    def to_json(self, now: float | None = None) -> dict:
        return {"url": self.url, "state": self.state(now or time.monotonic()), "in_flight": self.in_flight,
                "concurrency": self.concurrency, "served": self.served, "failed": self.failed,
                "last_error": self.last_error}


def _engine_failure(e: BaseException) -> str | None:
    """Why `e` is the engine's fault (worth another engine), or None when the request itself is at fault."""
    if isinstance(e, (NotFoundError, ModelServerError)):  # cannot reach the server; it failed mid-request
        return str(e)
    if isinstance(e, InputError):
        cause = e.__cause__
        if isinstance(cause, urllib.error.HTTPError):
            return str(e) if cause.code >= 500 or cause.code in (408, 429) else None
        return None
    if isinstance(e, (TimeoutError, ConnectionError, HTTPException, urllib.error.URLError, json.JSONDecodeError,
                      UnicodeDecodeError, OSError)):
        return f"{type(e).__name__}: {e}"
    return None


class EnginePool:
    """`ChatModel` over several engines serving the same model (see the module doc)."""

    reports_logprobs = True
    supports_json_schema = True

    def __init__(self, name: str, urls: Sequence[str], model: str, *, engine: str = "openai",
                 concurrency: int = 4, timeout: float = 120.0, allowed_hosts: Sequence[str] = (),
                 api_key: str = "", failures: int = 3, cooldown: float = 10.0, slots=None) -> None:  # noqa: ANN001
        if not urls:
            raise InputError(f"engine pool '{name}' needs at least one URL.")
        if engine not in ENGINES:
            raise InputError(f"unknown engine '{engine}'; choose one of: {', '.join(ENGINES)}.")
        self.name, self.model, self.kind = name, model, engine
        self.timeout, self.threshold, self.cooldown = timeout, failures, cooldown
        # llama-cpp-python's own server mangles multi-byte characters when asked for log-probabilities.
        self.engines = [Engine(u.rstrip("/"), OpenAICompatChat(u, model, allowed_hosts, api_key, timeout,
                                                               logprobs=engine != "llamacpp"), concurrency)
                        for u in urls]
        self.reports_logprobs = engine != "llamacpp"
        # inhouse.store.locks.SharedSlots: every server process's requests count against each engine's concurrency.
        self.slots = slots
        self._cond = threading.Condition()
        self._turn = 0

    @property
    def capacity(self) -> int:
        return sum(e.concurrency for e in self.engines)

    def twin(self) -> EnginePool:
        return self

    def health(self) -> list[dict]:
        now = time.monotonic()
        with self._cond:
            return [e.to_json(now) for e in self.engines]

    def probe(self, engine: Engine, timeout: float = 2.0) -> bool:
        """A health check: the engine lists its models (GET /models)."""
        req = urllib.request.Request(engine.url + "/models", headers=(
            {"Authorization": f"Bearer {engine.chat.api_key}"} if engine.chat.api_key else {}))
        try:
            with _NO_REDIRECTS.open(req, timeout=timeout) as r:
                return r.status == 200 and "data" in json.loads(r.read() or b"{}")
        except (OSError, ValueError, HTTPException):
            return False

    # ---- routing ------------------------------------------------------------------------------------
    def _candidates(self, tried: set[str], now: float) -> list[Engine]:
        """Engines not tried yet with a free slot here and their circuit closed (or due a retrial), the least
        busy first (by every process's requests when slots are shared), ties in turn."""
        free = [e for e in self.engines if e.url not in tried and e.in_flight < e.concurrency and not e.probing
                and e.open_until <= now]
        if not free:
            return []
        busy = ({e.url: e.in_flight for e in free} if self.slots is None else
                {name.removeprefix("engine:"): n for name, n in
                 self.slots.held([f"engine:{e.url}" for e in free]).items()})
        self._turn += 1
        n = len(self.engines)
        return sorted(free, key=lambda e: (busy.get(e.url, 0) / e.concurrency,
                                           (self.engines.index(e) - self._turn) % n))

    def _acquire(self, tried: set[str]):  # noqa: ANN202 - (Engine, shared slot or None)
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                now = time.monotonic()
                usable = [e for e in self.engines if e.url not in tried]
                if not usable:
                    raise Unavailable(f"every engine of '{self.name}' failed this request "
                                      f"({'; '.join(e.last_error for e in self.engines if e.last_error)[:500]}).",
                                      self._retry_after(now))
                if all(e.open_until > now for e in usable):
                    raise Unavailable(f"every engine of '{self.name}' is failing (circuit open); retry shortly.",
                                      self._retry_after(now))
                for engine in self._candidates(tried, now):
                    if engine.open_until and not self._recovered(engine):
                        continue
                    slot = None
                    if self.slots is not None:  # the engine's concurrency holds across every process
                        slot = self.slots.take(f"engine:{engine.url}", engine.concurrency)
                        if slot is None:
                            continue
                    engine.in_flight += 1
                    return engine, slot
                if now >= deadline:
                    raise Unavailable(f"no engine of '{self.name}' had a free slot for {self.timeout:.0f} s.",
                                      self._retry_after(now))
                self._cond.wait(min(0.05 if self.slots is not None else 0.5, deadline - now))

    def _recovered(self, engine: Engine) -> bool:
        """Half-open: one health check (outside the lock) before real traffic; False reopens the circuit."""
        engine.probing = True
        self._cond.release()
        try:
            healthy = self.probe(engine)
        finally:
            self._cond.acquire()
            engine.probing = False
        if not healthy:
            engine.open_until = time.monotonic() + self.cooldown
            engine.last_error = "health check failed"
            log.warning("engine %s still failing its health check; circuit open %.0f s more", engine.url,
                        self.cooldown)
            return False
        engine.open_until = 0.0
        engine.failures = 0
        log.info("engine %s passed its health check; circuit closed", engine.url)
        return True

    def _retry_after(self, now: float) -> int:
        waits = [e.open_until - now for e in self.engines if e.open_until > now]
        return max(1, int(min(waits)) + 1) if waits else 1

    def _release(self, engine: Engine, error: str | None, slot=None) -> None:  # noqa: ANN001
        if slot is not None:
            slot.release()
        with self._cond:
            engine.in_flight -= 1
            if error is None:
                engine.served += 1
                engine.failures = 0
            else:
                engine.failed += 1
                engine.failures += 1
                engine.last_error = error[:300]
                if engine.failures >= self.threshold and engine.open_until <= time.monotonic():
                    engine.open_until = time.monotonic() + self.cooldown
                    log.warning("engine %s failed %d times in a row (%s); circuit open for %.0f s", engine.url,
                                engine.failures, engine.last_error, self.cooldown)
            self._cond.notify_all()

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
                 stop: Sequence[str] = (), json_schema: dict | None = None,
                 on_piece: Callable[[str], None] | None = None) -> Reply:
        tried: set[str] = set()
        while True:
            engine, slot = self._acquire(tried)
            streamed = False

            def piece(p: str) -> None:
                nonlocal streamed
                streamed = True
                if on_piece is not None:
                    try:
                        on_piece(p)
                    except BaseException as e:  # the caller's (a cancelled request): not the engine's fault
                        raise _ClientGone(e) from e

            try:
                reply = engine.chat.complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                             json_schema=json_schema, on_piece=piece)
            except _ClientGone as e:
                self._release(engine, None, slot)
                raise e.inner from None
            except BaseException as e:
                why = _engine_failure(e)
                self._release(engine, why, slot)
                if why is None:
                    raise
                tried.add(engine.url)
                log.warning("engine %s failed a request%s: %s", engine.url,
                            " mid-reply" if streamed else "; trying another", why)
                if streamed:
                    raise Unavailable(f"the engine {engine.url} of '{self.name}' failed mid-reply ({why}); "
                                      "retry the request.") from e
                continue
            self._release(engine, None, slot)
            return reply
