"""One event loop in a background thread, where every pool of servers runs its requests.

A notebook's cell already runs inside an event loop, so ``asyncio.run`` cannot be called from it;
a loop of our own, in its own thread, serves synchronous callers (``batch``, the engine) and
asynchronous ones (``abatch``) alike, and keeps the HTTP connections it opened alive between calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread_id: int | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use (a daemon thread: it never holds up exit)."""
    global _loop, _thread_id
    with _lock:
        if _loop is None or _loop.is_closed():
            started = asyncio.new_event_loop()
            thread = threading.Thread(target=started.run_forever, name="agentlab-servers", daemon=True)
            thread.start()
            _loop, _thread_id = started, thread.ident
        return _loop


def on_loop_thread() -> bool:
    return _loop is not None and _thread_id == threading.get_ident()


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    return asyncio.run_coroutine_threadsafe(coroutine, loop())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs ``coroutine`` on the background loop and waits for it, from any thread but the loop's."""
    return submit(coroutine).result()


async def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """The same, awaited from another event loop (a notebook's, an ``abatch`` caller's)."""
    return await asyncio.wrap_future(submit(coroutine))
