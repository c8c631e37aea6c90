"""Model calls: one step's conversations for one model, answered from the call cache where it can,
else in one ``model.batch`` (with the agent's tools bound), retried when a failure may pass; or fed
into a running continuous batch (``GenerationStream``) and collected as they end."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolCall
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agentlab.cache import CallCache, ModelIdentity
from agentlab.message import Usage
from agentlab.settings import RunSettings
from agentlab.shapes import GenerationStream

Site = tuple[str, int, str]  # (item id, round, agent): where a call sits, as records and the cache name it


class AgentCallError(RuntimeError):
    """A model call failed and the run was asked to fail fast."""


@dataclass(frozen=True)
class ModelReply:
    """What one model call gave: its text, exact usage, and the tools it asked for."""

    content: str
    usage: Usage
    model: str
    cached: bool = False
    latency: float = 0.0
    error: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # what the model asked to call, when it was given tools


class ModelCalls:
    """Answers conversations for the runtime: the cache first, then the model, per ``settings``."""

    def __init__(self, settings: RunSettings, cache: CallCache | None) -> None:
        self.settings, self.cache = settings, cache
        self.model_seconds = 0.0
        self._bindings: dict[tuple[int, tuple[int, ...]], Runnable[Any, Any]] = {}

    def call(
        self,
        model: BaseChatModel,
        conversations: list[list[BaseMessage]],
        sites: list[Site],
        tools: tuple[BaseTool, ...] = (),
    ) -> list[ModelReply]:
        """Answer one step's calls for one model: from the cache where it can, else in one batch.

        With the cache on, identical calls inside a step are sent once and the copies count as
        cache hits, exactly as they would had they come one step later.
        """
        identity = ModelIdentity.of(model)
        if self.cache is None or not identity.cacheable:
            return self._batch(model, conversations, tools)
        schemas = [convert_to_openai_tool(t) for t in tools]
        keys = [identity.key(c, site, schemas) for c, site in zip(conversations, sites, strict=True)]
        known = self.cached(keys)
        first = {k: j for j, k in reversed(list(enumerate(keys))) if k not in known}
        todo = sorted(first.values())
        fresh = self._batch(model, [conversations[j] for j in todo], tools)
        for j, reply in zip(todo, fresh, strict=True):
            if reply.error is None:
                known[keys[j]] = replace(reply, cached=True, latency=0.0)
        self.store({keys[j]: r for j, r in zip(todo, fresh, strict=True)})
        sent = dict(zip(todo, fresh, strict=True))
        # a copy of a call that failed shares its error; every other copy is a hit
        return [sent.get(j) or known.get(k) or sent[first[k]] for j, k in enumerate(keys)]

    def cached(self, keys: Sequence[str]) -> dict[str, ModelReply]:
        """The cache's replies for these keys, marked as hits."""
        assert self.cache is not None
        return {
            k: ModelReply(
                h["content"],
                Usage(**h["usage"]),
                h["model"],
                cached=True,
                tool_calls=tuple(h.get("tool_calls", ())),
            )
            for k, h in self.cache.get_many(list(keys)).items()
        }

    def store(self, replies: Mapping[str, ModelReply]) -> None:
        """Keep the replies that did not fail."""
        assert self.cache is not None
        self.cache.put_many(
            {
                k: {
                    "content": r.content,
                    "usage": asdict(r.usage),
                    "model": r.model,
                    **({"tool_calls": list(r.tool_calls)} if r.tool_calls else {}),
                }
                for k, r in replies.items()
                if r.error is None
            }
        )

    def _batch(
        self, model: BaseChatModel, conversations: list[list[BaseMessage]], tools: tuple[BaseTool, ...] = ()
    ) -> list[ModelReply]:
        """One ``model.batch`` (with ``tools`` bound); calls that failed in a way that may pass are
        retried with backoff."""
        if not conversations:
            return []
        config: RunnableConfig = {"max_concurrency": self.settings.max_concurrency}
        started = time.perf_counter()
        runner = self._bound(model, tools)
        outputs = self._batch_within_timeout(runner, conversations, config)
        for attempt in range(self.settings.retries):
            failed = [j for j, out in enumerate(outputs) if isinstance(out, BaseException) and transient(out)]
            if not failed:
                break
            time.sleep(self.settings.retry_backoff * 2**attempt)
            again = self._batch_within_timeout(runner, [conversations[j] for j in failed], config)
            for j, out in zip(failed, again, strict=True):
                outputs[j] = out
        latency = time.perf_counter() - started
        self.model_seconds += latency
        return [self.reply(output, latency, model) for output in outputs]

    def _bound(self, model: BaseChatModel, tools: tuple[BaseTool, ...]) -> Runnable[Any, Any]:
        """``model`` with ``tools`` bound (once per model and tools), or the model itself."""
        if not tools:
            return model
        key = (id(model), tuple(map(id, tools)))
        if key not in self._bindings:
            self._bindings[key] = model.bind_tools(list(tools))
        return self._bindings[key]

    def _batch_within_timeout(
        self, model: Runnable[Any, Any], conversations: list[list[BaseMessage]], config: RunnableConfig
    ) -> list[Any]:
        timeout = self.settings.timeout
        if timeout is None:
            return model.batch(conversations, config, return_exceptions=True)
        # A thread cannot be killed: a hung call is abandoned (its thread finishes, or not, on its own).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentlab-call")
        future = pool.submit(model.batch, conversations, config, return_exceptions=True)
        pool.shutdown(wait=False)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            error = TimeoutError(f"no reply within timeout={timeout:g} s")
            return [error] * len(conversations)

    def reply(self, output: Any, latency: float, model: BaseChatModel) -> ModelReply:
        if isinstance(output, BaseException):
            if self.settings.fail_fast:
                raise AgentCallError(f"model call failed: {output!r}") from output
            error = f"{type(output).__name__}: {output}"
            return ModelReply("", Usage(), model_name(model), latency=latency, error=error)
        assert isinstance(output, AIMessage)
        name = output.response_metadata.get("model_name") or model_name(model)
        usage = Usage.from_metadata(output.usage_metadata)
        return ModelReply(output.text, usage, name, latency=latency, tool_calls=tuple(output.tool_calls))


class StreamCalls:
    """Calls fed one by one into a running continuous batch, each collected as it ends."""

    def __init__(self, calls: ModelCalls, stream: GenerationStream) -> None:
        self.calls, self.stream = calls, stream
        identity = ModelIdentity.of(stream.llm)
        self._identity = identity if calls.cache is not None and identity.cacheable else None
        self._keys: dict[str, str | None] = {}  # in flight: name -> cache key

    @property
    def in_flight(self) -> bool:
        return bool(self._keys)

    def submit(self, named: list[tuple[str, list[BaseMessage], Site]]) -> dict[str, ModelReply]:
        """Cache hits come back at once (by name); every other call joins the running batch."""
        identity = self._identity
        keys = [identity.key(convo, site) if identity else None for _, convo, site in named]
        known = self.calls.cached([k for k in keys if k]) if identity else {}
        done = {}
        for (name, convo, _), key in zip(named, keys, strict=True):
            if key in known:
                done[name] = known[key]
            else:
                self._keys[name] = key
                self.stream.submit(name, convo)
        return done

    def collect(self) -> dict[str, ModelReply]:
        """Waits for the running batch to finish at least one call; its replies, by name."""
        started = time.perf_counter()
        try:
            finished = self.stream.collect(timeout=self.calls.settings.timeout)
        except TimeoutError as error:  # not retried: the batch that holds them is stuck
            finished = [(name, error) for name in self.stream.cancel_all()]
        self.calls.model_seconds += time.perf_counter() - started
        done = {}
        for name, output in finished:
            key = self._keys.pop(name)
            latency = (
                output.response_metadata.get("batch_latency", 0.0) if isinstance(output, AIMessage) else 0.0
            )
            reply = self.calls.reply(output, latency, self.stream.llm)
            if key is not None:
                self.calls.store({key: reply})
            done[name] = reply
        return done

    def close(self) -> None:
        self.stream.close()  # calls still running after a budget stop are dropped, and redone on resume


def model_name(model: BaseChatModel) -> str:
    params = model._identifying_params
    return str(params.get("model_name") or params.get("model") or model._llm_type)


_TRANSIENT_NAMES = ("Timeout", "RateLimit", "Connection", "Overloaded", "Unavailable", "OutOfMemory")


def transient(error: BaseException) -> bool:
    """Whether trying the same call again may succeed: time-outs, rate limits, dropped connections,
    overloaded services, out of memory (the local model retries alone, in a smaller batch)."""
    return isinstance(error, TimeoutError | ConnectionError) or any(
        word in type(error).__name__ for word in _TRANSIENT_NAMES
    )
