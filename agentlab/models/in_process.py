"""Batching for models that run inside this process, where a thread per call buys nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig


class InProcessChatModel(BaseChatModel):
    """A chat model whose ``batch`` hands all conversations to ``_generate_all`` at once.

    langchain-core's default ``batch`` runs ``invoke`` on a thread pool, which suits remote APIs;
    for a model computing in this process it only adds overhead (about 0.3 ms a call), and for a
    local transformers model it would forfeit padded batching. If the whole batch fails, each
    conversation is retried alone so that only the failing ones carry the error.
    """

    def _generate_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None
    ) -> list[AIMessage]:
        raise NotImplementedError

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        conversations = [self._convert_input(x).to_messages() for x in inputs]
        return _isolating_errors(
            lambda cs: self._generate_all(cs, kwargs.get("stop")), conversations, return_exceptions
        )

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


def _isolating_errors(
    run: Callable[[list[list[BaseMessage]]], list[AIMessage]],
    conversations: list[list[BaseMessage]],
    return_exceptions: bool,
) -> list[Any]:
    try:
        return list(run(conversations))
    except Exception as error:
        if not return_exceptions:
            raise
        if len(conversations) == 1:
            return [error]
    return [_isolating_errors(run, [c], True)[0] for c in conversations]
