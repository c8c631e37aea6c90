"""Batching for models that answer many conversations in one call, where a thread per call buys
nothing: models computing in this process, and the pool of servers driven from one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.callbacks import CallbackManager
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, SecretStr


class BatchingChatModel(BaseChatModel):
    """A chat model whose ``batch`` hands all conversations to ``_generate_all`` at once.

    langchain-core's default ``batch`` runs ``invoke`` on a thread pool. For a model computing in
    this process it only adds overhead (about 0.3 ms a call), for a local transformers model it
    would forfeit padded batching, and a pool of servers is better served by one event loop than by
    a thread per request. ``_generate_all`` may give an exception in place of a reply that failed;
    if it raises, each conversation is retried alone so that only the failing ones carry the error.
    Callbacks in the batch's config see each call start and end (with its usage), as they would
    one by one. langchain's cache (the model's ``cache=``, else ``set_llm_cache``) is asked for
    each conversation first and keeps each new reply, as ``invoke`` does.

    The standard parameters (``max_tokens``, ``timeout``, ``stop``, ``streaming``, ``max_retries``,
    ``api_key``) are fields; any other keyword is an error rather than silently dropped.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=True)

    stop: list[str] | None = None  # stop strings for calls that give none
    streaming: bool = False  # invoke streams (callbacks see each token), where the model can stream
    timeout: float | None = Field(None, gt=0)  # seconds one call may take
    max_retries: int = Field(
        0, ge=0
    )  # tries again after a transient failure (a model in this process has none)
    api_key: SecretStr | None = Field(None, exclude=True, repr=False)  # for a service (none in this process)

    def _generate_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None, **tools: Any
    ) -> list[AIMessage | Exception]:
        """Every conversation's reply, or the error it failed with; ``tools`` holds ``tools`` and
        ``tool_choice`` when bound."""
        raise NotImplementedError

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | dict[str, Any] | bool | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The model with ``tools`` (langchain-core tools, functions, pydantic models or schemas)
        offered on every call; ``tool_choice``: "auto", "any"/"required", or a tool's name."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=_choice(tool_choice), **kwargs)

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        conversations = [self._convert_input(x).to_messages() for x in inputs]
        configs = config if isinstance(config, list) else [ensure_config(config)] * len(inputs)
        stop = kwargs.get("stop", self.stop) or None
        runs = self._start_runs(conversations, configs, stop)
        tools = bound_tools(kwargs)
        cached = _LangchainCache.of(self, stop, tools)
        replies: list[Any] = [cached.lookup(c) if cached else None for c in conversations]
        missed = [i for i, reply in enumerate(replies) if reply is None]
        try:
            fresh = _isolating_errors(
                lambda cs: self._generate_all(cs, stop, **tools),
                [conversations[i] for i in missed],
                return_exceptions,
            ) if missed else []  # fmt: skip
        except Exception as error:  # raised whole: every call's run ends with it
            for run in runs:
                if run is not None:
                    run.on_llm_error(error)
            raise
        for i, reply in zip(missed, fresh, strict=True):
            replies[i] = reply
            if cached and not isinstance(reply, BaseException):
                cached.keep(conversations[i], reply)
        for run, reply in zip(runs, replies, strict=True):
            if run is None:
                continue
            if isinstance(reply, BaseException):
                run.on_llm_error(reply)
            else:
                run.on_llm_end(LLMResult(generations=[[ChatGeneration(message=reply)]]))
        return replies

    def _start_runs(
        self,
        conversations: list[list[BaseMessage]],
        configs: Sequence[RunnableConfig],
        stop: list[str] | None,
    ) -> list[Any]:
        """One callback run per conversation, where its config has callbacks (None where not)."""
        runs: list[Any] = []
        for conversation, config in zip(conversations, configs, strict=True):
            callbacks = config.get("callbacks")
            if not callbacks and not self.callbacks:
                runs.append(None)  # the engine's path: nothing to tell, nothing to pay for
                continue
            manager = CallbackManager.configure(
                callbacks, self.callbacks, self.verbose, config.get("tags"), self.tags,
                config.get("metadata"), self.metadata,
            )  # fmt: skip
            (run,) = manager.on_chat_model_start(
                {}, [conversation], invocation_params=self._get_invocation_params(stop=stop),
                options={"stop": stop}, name=config.get("run_name"),
                run_id=config.get("run_id") if len(conversations) == 1 else None,
                batch_size=len(conversations),
            )  # fmt: skip
            runs.append(run)
        return runs

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return await asyncio.to_thread(
            self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs
        )


class _LangchainCache:
    """langchain's cache as ``BaseChatModel._generate_with_cache`` uses it: the same keys (the
    messages without ids, serialised; the model's settings with the call's stop and tools), so
    ``invoke`` and ``batch`` share entries."""

    def __init__(self, model: BaseChatModel, cache: BaseCache, llm_string: str) -> None:
        self.model, self.cache, self.llm_string = model, cache, llm_string

    @classmethod
    def of(
        cls, model: BaseChatModel, stop: list[str] | None, tools: dict[str, Any]
    ) -> _LangchainCache | None:
        if model.cache is False:
            return None
        cache = model.cache if isinstance(model.cache, BaseCache) else get_llm_cache()
        if cache is None:
            if model.cache is True:
                raise ValueError("cache=True, but no cache is set: call langchain's set_llm_cache first")
            return None
        return cls(model, cache, model._get_llm_string(stop=stop, **tools))

    @staticmethod
    def _prompt(conversation: list[BaseMessage]) -> str:
        return dumps([m.model_copy(update={"id": None}) if m.id is not None else m for m in conversation])

    def lookup(self, conversation: list[BaseMessage]) -> AIMessage | None:
        found = self.cache.lookup(self._prompt(conversation), self.llm_string)
        if not isinstance(found, list) or not found:
            return None
        (generation, *_) = self.model._convert_cached_generations(found)
        return generation.message if isinstance(generation.message, AIMessage) else None

    def keep(self, conversation: list[BaseMessage], reply: AIMessage) -> None:
        self.cache.update(self._prompt(conversation), self.llm_string, [ChatGeneration(message=reply)])


def call_arguments(model_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's tools and tool_choice; any other call argument is an error, not ignored."""
    kwargs = {k: v for k, v in kwargs.items() if k != "ls_structured_output_format"}  # tracing only
    unknown = sorted(set(kwargs) - {"tools", "tool_choice"})
    if unknown:
        raise TypeError(f"{model_name}: unknown call argument(s) {unknown}")
    return {k: v for k, v in kwargs.items() if v is not None}


def bound_tools(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The tools and tool choice ``bind_tools`` put into a call's keyword arguments."""
    return {k: kwargs[k] for k in ("tools", "tool_choice") if kwargs.get(k) is not None}


def _choice(tool_choice: str | dict[str, Any] | bool | None) -> str | None:
    """langchain's spellings of tool_choice, as one string: auto, any, or a tool's name."""
    if tool_choice is True:
        return "any"
    if isinstance(tool_choice, dict):
        return tool_choice.get("function", {}).get("name") or tool_choice.get("name")
    return {"required": "any"}.get(str(tool_choice), tool_choice) if tool_choice else None


def _isolating_errors(
    run: Callable[[list[list[BaseMessage]]], list[AIMessage | Exception]],
    conversations: list[list[BaseMessage]],
    return_exceptions: bool,
) -> list[Any]:
    try:
        replies = list(run(conversations))
    except Exception as error:
        if not return_exceptions:
            raise
        if len(conversations) == 1:
            return [error]
        return [_isolating_errors(run, [c], True)[0] for c in conversations]
    if not return_exceptions:
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
    return replies
