"""A stand-in for vLLM's offline API (``vllm.LLM``, ``vllm.SamplingParams``) where vLLM is not
installed: the same call shapes and result fields, a whitespace tokenizer, replies that say back
the last user turn, a prefix cache over earlier prompts, and seeded sampling that varies the reply.
Every engine built is kept in ``BUILT`` so a test can read how it was configured."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

BUILT: list[LLM] = []


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    max_tokens: int | None = 16


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str


@dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    num_cached_tokens: int = 0


@dataclass
class _Tokenizer:
    chat_template: str | None = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"


@dataclass
class LLM:
    model: str
    enable_prefix_caching: bool = False
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    _seen: list[list[str]] = field(default_factory=list)

    def __init__(
        self, model: str, enable_prefix_caching: bool = False, seed: int = 0, **options: Any
    ) -> None:
        self.model, self.enable_prefix_caching, self.seed, self.options = (
            model,
            enable_prefix_caching,
            seed,
            options,
        )
        self.calls, self._seen = [], []
        BUILT.append(self)

    def get_tokenizer(self) -> _Tokenizer:
        return _Tokenizer(self.options.get("chat_template", _Tokenizer.chat_template))

    def chat(self, messages, sampling_params=None, use_tqdm=True, tools=None, **kwargs):
        conversations = messages if messages and isinstance(messages[0], list) else [messages]
        params = (
            sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(conversations)
        )
        self.calls.append({"messages": conversations, "params": params, "tools": tools})
        return [self._answer(k, c, p) for k, (c, p) in enumerate(zip(conversations, params, strict=True))]

    def _answer(self, k: int, conversation: list[dict], params: SamplingParams) -> RequestOutput:
        words = " ".join(f"{m['role']}: {m['content']}" for m in conversation).split()
        cached = 0
        if self.enable_prefix_caching:
            for earlier in self._seen:
                shared = next(
                    (i for i, (a, b) in enumerate(zip(earlier, words, strict=False)) if a != b),
                    min(len(earlier), len(words)),
                )
                cached = max(cached, shared)
        self._seen.append(words)
        last = next(m["content"] for m in reversed(conversation) if m["role"] == "user")
        reply = f"You said: {last}".split()
        if params.temperature > 0:
            rng = random.Random(params.seed)
            reply.append(f"#{rng.randint(0, 10**6)}")
        text = " ".join(reply[: params.max_tokens])
        finish = "length" if len(reply) > (params.max_tokens or 10**9) else "stop"
        for s in params.stop or ():
            if s in text:
                text, finish = text.split(s, 1)[0], "stop"
        ids = list(range(len(text.split())))
        return RequestOutput(
            str(k), list(range(len(words))), [CompletionOutput(0, text, ids, finish)], cached
        )
