"""A bounded, first-come-first-served queue of fits, so that many users share a small server's cores.

Sampling uses every core it is given (one chain per core), so two fits at once only slow each other down. A
:class:`FitQueue` lets ``slots`` fits sample at a time; the others wait in arrival order and learn their
position while they wait (``on_wait``), and at most ``max_waiting`` may wait: one more gets :class:`QueueFull`,
a message, not a frozen page. Compilation happens before a fit joins the queue (it has its own lock, see
``hiermodels.engine.compiled``), so a waiting user's model is ready when their turn comes.

A waiting fit can give up at any time: if ``on_wait`` raises (the user cancelled, left the page or closed the
tab), its ticket leaves the queue and the users behind it move up.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hiermodels.errors import QueueFull

__all__ = ["FitQueue", "QueueFull"]  # QueueFull lives in hiermodels.errors; re-exported for old imports


class FitQueue:
    def __init__(self, slots: int = 1, max_waiting: int = 50, poll_seconds: float = 0.2) -> None:
        if slots < 1 or max_waiting < 0:
            raise ValueError("a fit queue needs at least one slot and a non-negative waiting limit")
        self.slots = slots
        self.max_waiting = max_waiting
        self.poll_seconds = poll_seconds
        self._waiting: deque[object] = deque()
        self._running = 0
        self._condition = threading.Condition()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _wait_for_turn(self, ticket: object, on_wait: Callable[[int], None] | None) -> None:
        try:
            while True:
                with self._condition:
                    if self._waiting[0] is ticket and self._running < self.slots:
                        self._waiting.popleft()
                        self._running += 1
                        self._condition.notify_all()
                        return
                    position = self._waiting.index(ticket) + 1
                if on_wait is not None:
                    on_wait(position)
                with self._condition:
                    self._condition.wait(timeout=self.poll_seconds)
        except BaseException:
            with self._condition:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._condition.notify_all()
            raise

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold a slot for the ``with`` block, after waiting for one in arrival order.

        ``on_wait(position)`` is called about every ``poll_seconds`` while waiting (1 = next in line); if it
        raises, the wait is abandoned and the exception propagates.
        """
        ticket = object()
        with self._condition:
            immediate = not self._waiting and self._running < self.slots
            if immediate:
                self._running += 1
            elif len(self._waiting) >= self.max_waiting:
                raise QueueFull(
                    f"the server is busy: {len(self._waiting)} fits are already waiting; try again in a minute"
                )
            else:
                self._waiting.append(ticket)
        if not immediate:
            self._wait_for_turn(ticket, on_wait)
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._condition.notify_all()
