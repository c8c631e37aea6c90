"""A running continuous batch (transformers' ``ContinuousBatchingManager``) over a local model:
calls join it one by one and come back as each ends, for the runtime's streamed path and for a
whole batch of calls on the continuous path.

A watchdog stands between the caller and the batching thread: a thread that died (out of memory,
say) fails its calls with the cause it recorded, and one that finishes no call for
``stall_seconds`` (or the run's ``timeout``) fails them as stalled, so nothing waits forever.
"""

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

    def __init__(self, llm: LocalChatModel, call_tokens: int | None = None) -> None:
        self.llm = llm
        self.eos = llm.eos_tokens()
        use_plain_sdpa(llm.hf_model)
        self.manager = llm.hf_model.init_continuous_batching(
            generation_config=llm.greedy_generation_config(),
            continuous_batching_config=llm.continuous_batching_config(call_tokens),
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

        Raises ``TimeoutError`` when no call ends within ``timeout`` seconds (None: the model's
        ``stall_seconds``), and ``RuntimeError`` with the cause when the batching thread stopped.
        """
        done: list[tuple[str, AIMessage | Exception]] = []
        patience = self.llm.stall_seconds if timeout is None else min(timeout, self.llm.stall_seconds)
        deadline = time.perf_counter() + patience
        while self.prompts:
            wait = 0.001 if done else min(1.0, max(0.001, deadline - time.perf_counter()))
            result = self.manager.get_result(timeout=wait)
            if result is None:
                if done:
                    break
                if not self.manager.is_running():
                    raise RuntimeError(f"the continuous batching thread stopped{self._cause()}")
                if time.perf_counter() >= deadline:
                    why = (
                        f"timeout={timeout:g} s" if timeout is not None and timeout <= patience else "stalled"
                    )
                    raise TimeoutError(
                        f"no call finished within {patience:g} s ({why}) with {len(self.prompts)} in flight; "
                        "the continuous batching thread is alive but makes no progress"
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

    def _cause(self) -> str:
        """Why the thread stopped, as transformers recorded it (a CUDA out-of-memory error, say)."""
        status = getattr(self.manager, "background_thread_status", None)
        error = next(
            (
                getattr(status, name)
                for name in ("fatal_error", "error", "_fatal_error")
                if getattr(status, name, None)
            ),
            None,
        )
        return f": {type(error).__name__}: {error}" if error is not None else ""

    def run_all(self, prompts: list[list[int]]) -> list[AIMessage]:
        """Every prompt through the running batch, its replies in order; the first failure raises."""
        keys = [f"req_{i}" for i in range(len(prompts))]
        for key, prompt in zip(keys, prompts, strict=True):
            self.prompts[key], self.started[key] = prompt, time.perf_counter()
            self.manager.add_request(input_ids=prompt, request_id=key, max_new_tokens=self.llm.max_new_tokens)
        replies: dict[str, AIMessage | Exception] = {}
        while self.prompts:
            replies.update(self.collect(self.llm.timeout))
        failed = [r for r in replies.values() if isinstance(r, Exception)]
        if failed:
            raise failed[0]
        return [replies[key] for key in keys]  # type: ignore[misc]

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
