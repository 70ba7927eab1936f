"""What several server processes share through PostgreSQL: counted slots (advisory locks) that a dead process
gives back, the generation queue's 429 bound and per-tenant bound, and each engine's concurrency."""

from __future__ import annotations

import threading

import pytest

from bench.sim_engine import SimEngine
from inhouse.models.pool import EnginePool
from inhouse.server.queue import GenerationQueue, QueueFull
from inhouse.store.locks import SharedSlots


@pytest.fixture
def two(postgres_url: str):
    """Two processes' worth of slot tables over one database (separate connections)."""
    a, b = SharedSlots(postgres_url), SharedSlots(postgres_url)
    yield a, b
    a.close()
    b.close()


def test_slots_are_counted_across_processes_and_freed_by_a_lost_connection(two):
    a, b = two
    first, second = a.take("engine:x", 2), b.take("engine:x", 2)
    assert first is not None and second is not None and {first.number, second.number} == {0, 1}
    assert a.take("engine:x", 2) is None and b.held(["engine:x", "engine:y"]) == {"engine:x": 2, "engine:y": 0}
    first.release()
    again = b.take("engine:x", 2)
    assert again is not None and again.number == first.number
    again._conn.close()  # the process holding it dies: its connection, and so its slot, is gone
    assert a.held(["engine:x"]) == {"engine:x": 1} and a.take("engine:x", 2) is not None


def test_the_queue_bounds_hold_across_processes(two):
    a, b = (GenerationQueue(workers=1, max_waiting=2, per_tenant=2, shared=s) for s in two)
    tickets = [a.admit("acme"), b.admit("globex"), b.admit("acme")]  # 3 places: 1 running + 2 waiting
    with pytest.raises(QueueFull, match="all 3 generation places"):
        a.admit("globex")
    tickets.pop().finish()
    tickets.append(a.admit("acme"))  # acme's second place, on the other process
    tickets[1].finish()
    with pytest.raises(QueueFull, match="this tenant already has 2"):
        b.admit("acme")
    assert a.admit("globex") is not None and (a.rejected, b.rejected) == (1, 1)


def test_an_engines_concurrency_holds_across_processes(two):
    engine = SimEngine(tokens_per_s=100, tokens=20).start()
    try:
        pools = [EnginePool("sim", [engine.url], "sim", concurrency=1, slots=s, timeout=30) for s in two]
        threads = [threading.Thread(target=lambda p=p: p.complete([{"role": "user", "content": "hi"}]))
                   for p in pools for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert engine.served == 4 and engine.most == 1  # one at a time, though two processes sent two each
    finally:
        engine.kill()
