"""A call cache on disk: the same model, messages and generation settings never run twice.

The engine asks this cache before it calls a model. langchain's global cache (``set_llm_cache``)
is asked only on this cache's misses, by the model's ``batch`` and ``invoke`` (agentlab's models
and third-party ones alike): this one wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from agentlab._paths import cache_dir

_SAMPLING_ONLY = ("seed", "top_p", "top_k")


@dataclass(frozen=True)
class ModelIdentity:
    """A stable description of a model and its generation settings, and how its calls may be cached.

    Sampling without a seed is never cached: a re-run must draw fresh samples. A model class with
    a ``temperature`` field left unset samples at its provider's default, so it counts as sampling.
    Seeded sampling is cached per call site, since two agents sending the same prompt are meant to
    draw two different samples. Greedy decoding ignores the sampling settings (seed, top_p, top_k),
    so they are left out of its description: a notebook's model without a seed and an experiment
    file's model seeded with the run's seed make the same greedy calls and share their entries.
    """

    description: str
    cacheable: bool
    sampling: bool

    @classmethod
    def of(cls, model: BaseChatModel) -> ModelIdentity:
        params = {"_type": model._llm_type, **model._identifying_params}
        temperature = params.get("temperature")
        has_temperature = "temperature" in type(model).model_fields
        greedy = params.get("do_sample") is False or (temperature is not None and float(temperature) == 0.0)
        sampling = has_temperature and not greedy
        cacheable = not sampling or params.get("seed") is not None
        if greedy:
            params = {k: v for k, v in params.items() if k not in _SAMPLING_ONLY}
        return cls(json.dumps(params, sort_keys=True, default=str), cacheable, sampling)

    def key(
        self, messages: Sequence[BaseMessage], site: Sequence[Any] = (), tools: Sequence[Any] = ()
    ) -> str:
        """The cache key of one call; ``site`` (item, round, agent) counts only when sampling;
        ``tools``: the tools bound to the call (their schemas). A tool call in the history counts
        by its name and arguments, not its id (local models draw a fresh one each time)."""
        payload = [
            self.description,
            [_part(m) for m in messages],
            list(site) if self.sampling else [],
        ]
        if tools:  # only then: the keys of calls without tools stay what they were
            payload.append(list(tools))
        return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


def _part(m: BaseMessage) -> tuple[Any, ...]:
    calls = getattr(m, "tool_calls", None)
    if calls:
        return (m.type, m.content, [(c["name"], c["args"]) for c in calls])
    return (m.type, m.content)


LOCK_WAIT = 5.0  # seconds a call waits for another process's write before giving up


class CacheUnavailable(RuntimeError):
    """The call cache's file is locked by another process or damaged; the message says what to do."""


@contextlib.contextmanager
def _explained(path: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" not in str(error) and "busy" not in str(error):
            raise
        raise CacheUnavailable(
            f"the call cache {path} stayed locked by another process for {LOCK_WAIT:g} s; let that "
            "run finish, or run without the cache (cache=False, `cache: false` in a file), or point "
            "AGENTLAB_CALL_CACHE at another file"
        ) from None
    except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
        raise CacheUnavailable(
            f"the call cache {path} is damaged ({error}). It holds only replies that can be made "
            f"again: move it away (mv {path} {path}.damaged) and rerun, or point AGENTLAB_CALL_CACHE "
            "at another file"
        ) from None


class CallCache:
    """SQLite-backed map from call key to the model's reply (text, token usage, model name).

    The default file is ``$AGENTLAB_CALL_CACHE``, else ``calls.sqlite`` in agentlab's cache folder.

    >>> cache = CallCache(":memory:")
    >>> cache.put_many({"k": {"content": "4"}}); cache.get_many(["k", "x"])
    {'k': {'content': '4'}}
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            path = os.environ.get("AGENTLAB_CALL_CACHE") or cache_dir() / "calls.sqlite"
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        with _explained(self.path):
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=LOCK_WAIT)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock, _explained(self.path):
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, value FROM calls WHERE key IN ({marks})", chunk)
                found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put_many(self, entries: dict[str, dict[str, Any]]) -> None:
        if not entries:
            return
        with self._lock, _explained(self.path):
            self._db.executemany(
                "INSERT OR REPLACE INTO calls VALUES (?, ?)", [(k, json.dumps(v)) for k, v in entries.items()]
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM calls")
            self._db.commit()

    def __repr__(self) -> str:
        return f"CallCache({self.path!r}, {len(self)} calls)"


def call_cache(cache: bool | str | Path | CallCache | None) -> CallCache | None:
    """What a ``cache=`` argument means: True the shared on-disk cache, False (or None) none, a
    path another file, a ``CallCache`` itself."""
    if cache is True:
        return CallCache()
    if cache is False or cache is None:
        return None
    return cache if isinstance(cache, CallCache) else CallCache(cache)
