"""torch's CPU thread count chosen by timing, so a busy machine does not stall every operation.

Every torch CPU operation ends at an OpenMP barrier: it finishes only when all of its threads have.
On a machine where other processes want the cores too, one of the threads is often descheduled, and
every operation of every layer then waits a scheduler time slice for it. Measured here (2 cores,
batch of 8, a compiler and a second torch process running beside it): 3.0 s per decode step with
2 threads against 0.8 s with 1; on a quiet machine 2 threads are the faster. No fixed count is right
for both, and the load changes during a run, so ``ThreadTuner`` times decode steps at the count it
uses and, now and then, one step at half or double that count, compares it with the last step of
the same size (rows and tokens fed) at the count in use, and keeps whichever was faster. A probe
that loses is tried again later, less and less often, so a quiet machine pays about one slower
step in a hundred. A step at the count in use that takes much longer than the last one of its size
(``SLOWED``) means the load changed: the next step probes at once, whatever the wait had grown to.
Without that rule, a machine that turned busy after a long quiet stretch kept 2 threads for up to
``LONGEST_WAIT`` steps: the first busy run of the embedded star trace took 79 s, the next ones 39 s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")

FIRST_PROBE = 8  # decode steps before the first probe
LONGEST_WAIT = 128  # at most this many steps between probes
WIN = 0.9  # a probe must take at most this share of the last same-size step's time to be adopted
SLOWED = 1.5  # a step this many times slower than the last of its size ends the wait for a probe


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ThreadTuner:
    """Chooses ``torch.set_num_threads`` for each decode step by timing (see the module docstring).

    ``fixed`` pins the count instead (no probes). The count in use is kept from one batch to the
    next; ``session`` restores the process's own count when a batch ends, so the caller's other
    torch work is left as it was.
    """

    def __init__(
        self,
        most: int | None = None,
        fixed: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.most = most or available_cores()
        if fixed is not None and not 1 <= fixed <= self.most:
            raise ValueError(
                f"threads={fixed}: use 1 to {self.most} (the cores this process may use), or 'auto'"
            )
        self.fixed = fixed
        self.clock = clock
        self.threads = fixed or self.most
        self.wait = FIRST_PROBE
        self._until_probe = FIRST_PROBE
        self._down = True  # the next probe halves (else doubles) the count
        self._timed: dict[object, float] = {}  # the last step of each size at the count in use

    @contextmanager
    def session(self) -> Iterator[None]:
        """Uses the tuned count for a batch and restores the caller's count after it."""
        outer = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(outer)

    def step(self, run: Callable[[], T], size: object = None) -> T:
        """Runs one decode step at the count in use, or as a probe at another count. Steps of
        different ``size`` (say, the shape of what is fed) are not compared."""
        if self.fixed is not None or self.most == 1:
            return run()
        probe = self._next_probe()
        count = probe or self.threads
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        started = self.clock()
        result = run()
        self._record(count, self.clock() - started, probe is not None, size)
        return result

    def _next_probe(self) -> int | None:
        if not self._timed:
            return None
        self._until_probe -= 1
        if self._until_probe > 0:
            return None
        for _ in range(2):  # halving or doubling; where one is out of range, the other
            self._down = not self._down
            other = self.threads // 2 if not self._down else min(self.most, self.threads * 2)
            if 1 <= other != self.threads:
                return other
        return None

    def _record(self, count: int, seconds: float, probing: bool, size: object) -> None:
        known = self._timed.get(size)  # the last step of this size at the count in use
        if not probing:
            if known is not None and seconds > SLOWED * known:
                self.wait, self._until_probe = FIRST_PROBE, 1
            self._timed[size] = seconds
            return
        if known is None:  # no step of this size timed at the count in use: probe again soon
            self._until_probe = 2
        elif seconds <= WIN * known:
            self.threads, self.wait, self._until_probe = count, FIRST_PROBE, FIRST_PROBE
            self._timed = {}  # timings at the old count say nothing of the new one
        else:
            self.wait = min(LONGEST_WAIT, self.wait * 2)
            self._until_probe = self.wait

    def end_batch(self) -> None:
        """A new batch's steps cost differently: compare probes only within one batch."""
        self._timed = {}
