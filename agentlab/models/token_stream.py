"""Streaming a local model's reply token by token: ``generate`` runs on a thread and hands each new
token id over (``_TokenQueue``); the text is decoded as it grows, and text that may begin a stop
string is held back until it cannot. The usage (exact, from the generated ids) rides on the last
chunk."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from agentlab.models import tool_calls

if TYPE_CHECKING:
    from agentlab.models.local_chat import LocalChatModel


def stream_tokens(
    llm: LocalChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
) -> Iterator[ChatGenerationChunk]:
    llm._loaded()
    tok, model, stop = llm._tokenizer, llm._model, stop or llm.stop or []
    prompt = tok(llm._template(messages), add_special_tokens=False, return_tensors="pt").to(model.device)
    tokens = _TokenQueue()
    done: dict[str, Any] = {}

    def generate() -> None:
        try:
            with torch.inference_mode():
                done["ids"] = model.generate(**prompt, **llm._generate_options(stop), streamer=tokens)
        except BaseException as error:  # handed to the caller below
            done["error"] = error
        finally:
            tokens.end()

    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    held_back = max((len(s) for s in stop), default=1) - 1  # text that may begin a stop string
    ids: list[int] = []
    text, sent = "", 0
    for token in tokens:
        ids.append(token)
        decoded = tok.decode(ids, skip_special_tokens=True).lstrip()
        if decoded.endswith("\ufffd"):
            continue  # a character split over tokens: wait for the rest of it
        text = decoded
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        upto = cut if cut >= 0 else len(text) - held_back
        if upto > sent:
            chunk = ChatGenerationChunk(message=AIMessageChunk(text[sent:upto]))
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
            sent = upto
    worker.join()
    if "error" in done:
        raise done["error"]
    prompt_ids = prompt["input_ids"][0].tolist()
    reply = llm._reply(prompt_ids, done["ids"][0, len(prompt_ids) :].tolist(), llm.eos_tokens(), 0.0, 0, stop)
    if len(reply.text) > sent:  # what was held back, and trailing text the reply keeps
        yield ChatGenerationChunk(message=AIMessageChunk(reply.text[sent:]))
    last = AIMessageChunk(
        "", usage_metadata=reply.usage_metadata, response_metadata=reply.response_metadata,
        chunk_position="last",
    )  # fmt: skip
    yield ChatGenerationChunk(message=last)


def as_last_chunk(reply: AIMessage) -> AIMessageChunk:
    chunks = tool_calls.call_chunks(reply)
    return AIMessageChunk(
        reply.text, tool_call_chunks=chunks, usage_metadata=reply.usage_metadata,
        response_metadata=reply.response_metadata, chunk_position="last",
    )  # fmt: skip


class _TokenQueue:
    """What ``generate`` produces, one token id at a time, for a consumer on another thread (a
    streamer: transformers calls ``put`` and ``end``)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate's first call hands over the prompt
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self._queue.put(token)

    def end(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Iterator[int]:
        while (token := self._queue.get()) is not None:
            yield token
