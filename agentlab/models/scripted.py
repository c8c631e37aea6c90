"""A deterministic fake chat model for tests, docs and overhead benchmarks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from agentlab.models import tool_calls
from agentlab.models.backends import ModelSpec, backend
from agentlab.models.batching import BatchingChatModel

Responder = Callable[[Sequence[BaseMessage]], "str | AIMessage | BaseException"]


def word_count(text: str) -> int:
    return len(text.split())


class ScriptedChatModel(BatchingChatModel):
    """Answers with ``respond(messages)`` and reports one token per whitespace-separated word.

    A reply that is an exception instance is raised instead, to script failures; a reply that is an
    ``AIMessage`` is given as it is, so a script can call tools (``tool_calls``) once they are bound
    with ``bind_tools``. ``batch`` answers all conversations in one call (``BatchingChatModel``).

    >>> model = ScriptedChatModel(respond=lambda msgs: "The answer is 4")
    >>> reply = model.invoke("What is 2 + 2?")
    >>> reply.content, reply.usage_metadata["input_tokens"], reply.usage_metadata["output_tokens"]
    ('The answer is 4', 5, 4)
    """

    respond: Responder
    name_: str = "scripted"
    delay: float = 0.0  # seconds each batch takes: a stand-in for a slow model in tests and dry runs
    max_tokens: int | None = Field(None, ge=1)  # a longer reply is cut to this many words
    temperature: float = Field(0.0, ge=0.0)  # the script decides what it says; any value replies the same

    @property
    def _llm_type(self) -> str:
        return "agentlab-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.name_, "temperature": 0.0}  # the same reply every time: greedy

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "agentlab"
        params["ls_model_name"] = kwargs.get("model", self.name_)
        return params

    def _reply(self, messages: list[BaseMessage], stop: list[str] | None) -> tuple[AIMessage, UsageMetadata]:
        """The scripted reply, cut before the first stop string, and its word counts."""
        given = self.respond(messages)
        if isinstance(given, BaseException):
            raise given
        message = given if isinstance(given, AIMessage) else AIMessage(given)
        reply = message.text
        for s in stop or self.stop or ():
            reply = reply.split(s, 1)[0]
        if self.max_tokens is not None and word_count(reply) > self.max_tokens:
            reply = " ".join(reply.split()[: self.max_tokens])
        prompt_tokens = sum(word_count(str(m.content)) for m in messages)
        completion_tokens = word_count(reply)
        usage = UsageMetadata(
            input_tokens=prompt_tokens,
            output_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        update = {"content": reply, "usage_metadata": usage, "response_metadata": {"model_name": self.name_}}
        return message.model_copy(update=update), usage

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        message, _ = self._reply(messages, stop)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Word by word (each word with the space before it); the usage rides on the last chunk."""
        message, usage = self._reply(messages, stop)
        for piece in re.findall(r"\s*\S+", message.text) or [""]:
            chunk = ChatGenerationChunk(message=AIMessageChunk(piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        calls = tool_calls.call_chunks(message)
        last = AIMessageChunk(
            "", tool_call_chunks=calls, usage_metadata=usage, response_metadata={"model_name": self.name_},
            chunk_position="last",
        )  # fmt: skip
        yield ChatGenerationChunk(message=last)

    def batch(self, inputs: list[LanguageModelInput], config: Any = None, **kwargs: Any) -> list[Any]:
        if self.delay:
            if self.timeout is not None and self.delay > self.timeout:
                time.sleep(self.timeout)
                raise TimeoutError(
                    f"the scripted delay ({self.delay:g} s) is past timeout={self.timeout:g} s"
                )
            time.sleep(self.delay)
        return super().batch(inputs, config, **kwargs)

    def _generate_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None, **tools: Any
    ) -> list[AIMessage]:
        return [self._generate(list(c), stop).generations[0].message for c in conversations]


@backend("scripted")
def _scripted_backend(spec: ModelSpec, seed: int, device: str | None) -> ScriptedChatModel:
    """Every agent says ``spec.reply``: dry runs of an experiment file, and tests."""
    reply = spec.reply
    return ScriptedChatModel(respond=lambda messages: reply, name_=f"scripted:{reply}", delay=spec.delay)
