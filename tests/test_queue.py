"""The fit queue: first come, first served; positions while waiting; giving up; a bound on waiting."""

from __future__ import annotations

import threading
import time

import pytest

from hiermodels.errors import QueueFull
from hiermodels.inference.queue import FitQueue


def run_in_threads(queue: FitQueue, count: int, hold: float, positions: dict, order: list) -> None:
    def user(k: int) -> None:
        with queue.slot(lambda position: positions.setdefault(k, []).append(position)):
            order.append(k)
            time.sleep(hold)

    threads = []
    for k in range(count):
        thread = threading.Thread(target=user, args=(k,))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # arrive in order 0, 1, 2, ...
    for thread in threads:
        thread.join(timeout=10)


def test_one_slot_serves_in_arrival_order_and_reports_positions():
    queue = FitQueue(slots=1, poll_seconds=0.01)
    positions: dict[int, list[int]] = {}
    order: list[int] = []
    run_in_threads(queue, 4, hold=0.4, positions=positions, order=order)  # all arrive within 0.2 s
    assert order == [0, 1, 2, 3]
    assert 0 not in positions  # the first user never waits
    assert positions[3][0] == 3 and positions[3][-1] == 1  # the last moves up from 3rd to 1st
    for seen in positions.values():
        assert seen == sorted(seen, reverse=True)
    assert (queue.running, queue.waiting) == (0, 0)


def test_two_slots_run_two_at_once():
    queue = FitQueue(slots=2, poll_seconds=0.01)
    inside = []
    peak = []
    lock = threading.Lock()

    def user() -> None:
        with queue.slot():
            with lock:
                inside.append(1)
                peak.append(len(inside))
            time.sleep(0.1)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=user) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert max(peak) == 2


def test_a_user_who_gives_up_leaves_the_line():
    queue = FitQueue(slots=1, poll_seconds=0.01)
    release = threading.Event()
    holder_inside = threading.Event()

    def holder() -> None:
        with queue.slot():
            holder_inside.set()
            release.wait(5)

    class Left(Exception):
        pass

    def impatient(position: int) -> None:
        raise Left

    thread = threading.Thread(target=holder)
    thread.start()
    holder_inside.wait(5)
    with pytest.raises(Left):
        with queue.slot(impatient):
            pass
    assert queue.waiting == 0
    release.set()
    thread.join(5)
    with queue.slot():  # the slot was given back
        assert queue.running == 1


def test_a_free_slot_needs_no_place_in_the_waiting_room():
    queue = FitQueue(slots=1, max_waiting=0)
    with queue.slot():
        assert queue.running == 1
    with pytest.raises(QueueFull):
        with queue.slot(), queue.slot():
            pass


def test_queue_full_when_the_waiting_room_is_full():
    queue = FitQueue(slots=1, max_waiting=1, poll_seconds=0.01)
    release = threading.Event()
    inside = threading.Event()

    def holder() -> None:
        with queue.slot():
            inside.set()
            release.wait(5)

    waiter_started = threading.Event()

    def waiter() -> None:
        with queue.slot(lambda position: waiter_started.set()):
            pass

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    inside.wait(5)
    threads.append(threading.Thread(target=waiter))
    threads[1].start()
    waiter_started.wait(5)
    with pytest.raises(QueueFull, match="busy"):
        with queue.slot():
            pass
    release.set()
    for thread in threads:
        thread.join(5)
    assert (queue.running, queue.waiting) == (0, 0)
