"""The generation queue's tickets: a request keeps its slot and its place from its first generation to its end."""

import threading
import time

import pytest

from inhouse.server.queue import Cancelled, GenerationQueue, QueueFull


def test_a_request_keeps_its_slot_and_place_across_its_generations():
    q = GenerationQueue(workers=1, max_waiting=0)
    t = q.admit()
    for _ in range(3):  # the draft, a follow-up, the judge: none waits, none gives the place back
        with t.run():
            assert q.running == 1 and q.admitted == 1
    with pytest.raises(QueueFull):
        q.admit()
    t.finish()
    t.finish()  # idempotent
    assert (q.running, q.admitted, q.completed, len(q._recent)) == (0, 0, 1, 1)
    with pytest.raises(RuntimeError, match="finished"):
        with t.run():
            pass


def test_the_next_request_waits_for_the_whole_of_the_first():
    q = GenerationQueue(workers=1, max_waiting=1)
    first, second = q.admit(), q.admit()
    with first.run():
        pass
    started = threading.Event()

    def other():
        with second.run():
            started.set()
        second.finish()

    th = threading.Thread(target=other)
    th.start()
    time.sleep(0.3)
    assert not started.is_set()  # the first request's judge may still come
    with first.run():
        pass
    first.finish()
    assert started.wait(5)
    th.join(5)
    assert (q.admitted, q.completed) == (0, 2)


def test_a_request_cancelled_while_waiting_leaves_as_cancelled():
    q = GenerationQueue(workers=1, max_waiting=1)
    first, second = q.admit(), q.admit()
    with first.run():
        pass
    second.cancel.set()
    with pytest.raises(Cancelled):
        with second.run():
            pass
    second.finish()
    first.finish()
    assert (q.admitted, q.running, q.cancelled, q.completed) == (0, 0, 1, 1)


def test_tenants_take_turns_and_one_tenant_cannot_take_every_place():
    q = GenerationQueue(workers=1, max_waiting=4)  # 5 places; a tenant may hold 4
    assert q.per_tenant == 4
    busy = [q.admit("a") for _ in range(4)]
    with pytest.raises(QueueFull, match="this tenant"):
        q.admit("a")
    other = q.admit("b")
    order: list[str] = []
    holder = busy[0]
    with holder.run():
        threads = []
        for t in [*busy[1:], other]:  # a's three arrive before b's one
            th = threading.Thread(target=lambda t=t: (t.run().__enter__(), order.append(t.tenant), t.finish()))
            th.start()
            threads.append(th)
            time.sleep(0.05)
    holder.finish()
    for th in threads:
        th.join(5)
    # b was served least recently (never), so it goes right after a's running request, not after all of a's.
    assert order == ["b", "a", "a", "a"]
    assert (q.admitted, q.running) == (0, 0)
