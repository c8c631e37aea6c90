"""A running continuous batch (transformers' ``ContinuousBatchingManager``) over a local model:
calls join it one by one and come back as each ends, for the runtime's streamed path."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage, BaseMessage

from agentlab.models.cpu_attention import use_plain_sdpa

if TYPE_CHECKING:
    from agentlab.models.local_chat import LocalChatModel


class GenerationStream:
    """Calls in, finished calls out, over one ``ContinuousBatchingManager``; ``close()`` stops it."""

    def __init__(self, llm: LocalChatModel) -> None:
        self.llm = llm
        self.eos = llm.eos_tokens()
        use_plain_sdpa(llm.hf_model)
        self.manager = llm.hf_model.init_continuous_batching(
            generation_config=llm.greedy_generation_config(),
            continuous_batching_config=llm.continuous_batching_config(),
        )
        self.manager.start()
        self.prompts: dict[str, list[int]] = {}
        self.started: dict[str, float] = {}

    def submit(self, key: str, conversation: Sequence[BaseMessage]) -> None:
        prompt = self.llm.tokenizer(self.llm._template(conversation), add_special_tokens=False)["input_ids"]
        self.prompts[key], self.started[key] = prompt, time.perf_counter()
        self.manager.add_request(input_ids=prompt, request_id=key, max_new_tokens=self.llm.max_new_tokens)

    def collect(self, timeout: float | None = None) -> list[tuple[str, AIMessage | Exception]]:
        """Block until at least one call ends; return every call that has ended by then.

        Raises ``TimeoutError`` when no call ends within ``timeout`` seconds (None: no limit), and
        ``RuntimeError`` when the batching thread has stopped.
        """
        done: list[tuple[str, AIMessage | Exception]] = []
        deadline = None if timeout is None else time.perf_counter() + timeout
        while self.prompts:
            if done:
                wait = 0.001  # gather whatever else has ended, without waiting for more
            else:
                wait = 1.0 if deadline is None else min(1.0, max(0.001, deadline - time.perf_counter()))
            result = self.manager.get_result(timeout=wait)
            if result is None:
                if done:
                    break
                if not self.manager.is_running():
                    raise RuntimeError("the continuous batching thread stopped")
                if deadline is not None and time.perf_counter() >= deadline:
                    raise TimeoutError(
                        f"no call finished within timeout={timeout:g} s ({len(self.prompts)} in flight)"
                    )
                continue
            if not result.is_finished():
                continue
            key = result.request_id
            prompt, began = self.prompts.pop(key), self.started.pop(key)
            if result.error:
                done.append((key, RuntimeError(f"continuous batching: {result.error}")))
            else:
                row = list(result.generated_tokens)
                done.append((key, self.llm._reply(prompt, row, self.eos, time.perf_counter() - began)))
        return done

    def cancel_all(self) -> list[str]:
        """Drop every call in flight; returns their keys."""
        keys = list(self.prompts)
        for key in keys:
            self.manager.cancel_request(key)
        self.prompts.clear()
        self.started.clear()
        return keys

    def close(self) -> None:
        self.manager.stop(block=True, timeout=10)
