"""A langchain-core chat model over transformers with true batched generation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from agentlab.models import tool_calls
from agentlab.models.backends import ModelSpec, backend
from agentlab.models.batching import BatchingChatModel, call_arguments
from agentlab.models.cache_sizing import KVShape, continuous_sizes, free_memory
from agentlab.models.continuous import GenerationStream
from agentlab.models.cpu_attention import use_grouped_attention
from agentlab.models.cpu_linear import pack_linear_layers
from agentlab.models.cpu_threads import ThreadTuner
from agentlab.models.floors import require
from agentlab.models.greedy import greedy_dropping_finished
from agentlab.models.prefix_cache import PrefixCache
from agentlab.models.static_decode import StaticDecoder
from agentlab.models.token_stream import as_last_chunk, stream_tokens
from agentlab.models.weights import load_weights


class LocalChatModel(BatchingChatModel):
    """A transformers causal LM as a langchain-core ``BaseChatModel``.

    ``batch`` (langchain-core's call for many inputs) decodes chunks of ``batch_size``
    conversations, sorted by length; greedy chunks go through ``greedy_dropping_finished`` (prompts
    read in length buckets, prefixes read before served from the prefix cache, rows leaving as they
    end, new keys and values written in place), sampling, stop strings and models with
    sliding-window layers through ``generate``. Greedy calls with identical prompts in one
    ``batch`` are decoded once. Token counts are exact: prompt tokens are the unpadded prompt (those
    the prefix cache served are reported as ``cache_read``), completion tokens run up to and
    including the end-of-sequence token. Greedy by default; with ``temperature > 0`` it samples,
    reproducibly when ``seed`` is set (the seed is applied per generate call, so a sample depends on
    its batch).

    Use: ``LocalChatModel.from_pretrained("path/or/hub-id", max_new_tokens=64).batch(["2 + 3?", "4 + 4?"])``,
    or ``LocalChatModel(model_name="path/or/hub-id")``, which loads the weights at its first call.
    ``stream`` yields the reply token by token (one conversation at a time, through ``generate``).
    """

    model_name: str
    revision: str | None = None  # part of the cache key: bump it when the weights change
    max_new_tokens: int = Field(256, ge=1, alias="max_tokens")  # langchain's standard name works too
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    batch_size: int = Field(
        64, ge=1
    )  # conversations per generate; decoding is memory-bound, so wider is faster
    # "continuous": transformers' continuous batching (paged attention; rows join and leave the batch
    # every step); "padded": our bucketed padded batches. "auto": continuous on a GPU for greedy
    # decoding without stop strings, padded otherwise (on a CPU it was slower: benchmarks/README.md).
    # "static": transformers' generate over a static KV cache with the decode step compiled (CUDA
    # graphs on a GPU; static_decode.py), batches of batch_size padded to a power of two.
    generation: Literal["auto", "padded", "continuous", "static"] = "auto"
    # Prompt prefixes (system prompt, question, last round's prompt) are read once and reused, in
    # blocks of this many tokens: our own prefix cache on the padded greedy path, the page size of
    # transformers' paged cache (which shares whole pages) on the continuous one.
    prefix_block_tokens: int = 32
    prefix_cache_mib: int = 512  # memory for the padded path's prefix cache; 0 turns it off
    # torch's CPU threads while generating: "auto" times decode steps and keeps the faster of the
    # count in use and half or double it (a busy machine stalls wide OpenMP teams: cpu_threads.py);
    # a number pins it. Not part of the cache key: the count does not change what is generated.
    threads: int | Literal["auto"] = "auto"
    # float32 on a CPU: linear layers through oneDNN with weights packed once (cpu_linear.py), at
    # the cost of a second copy of them; False keeps nn.Linear
    pack_weights: bool = True
    # greedy: feed up to this many draft tokens per step, looked up in the row's own prompt and reply
    # (prompt lookup decoding, greedy.py); the tokens stay greedy decoding's. 0 turns it off.
    prompt_lookup_num_tokens: int = Field(4, ge=0)
    # continuous batching: tokens its KV cache holds; None sizes it from the device's free memory
    # (cache_sizing.py) on a GPU, and leaves it to transformers on a CPU
    kv_cache_tokens: int | None = Field(None, ge=1)
    # continuous batching: seconds without any call finishing before its calls fail as stalled
    stall_seconds: float = Field(120.0, gt=0)

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _prefix_cache: PrefixCache | None = PrivateAttr(default=None)
    _full_attention_only: bool = PrivateAttr(default=False)
    _threads: ThreadTuner | None = PrivateAttr(default=None)
    _static: StaticDecoder | None = PrivateAttr(default=None)

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        *,
        model_name: str | None = None,
        dtype: Any = "auto",
        device_map: str | dict[str, Any] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        **settings: Any,
    ) -> LocalChatModel:
        """Load weights and tokenizer from a local folder or hub id; place them with accelerate.

        ``device_map`` defaults to ``"auto"`` when a GPU is visible (accelerate spreads a model larger
        than one GPU over all of them) and to the CPU otherwise.
        """
        model, tokenizer = load_weights(path, dtype, device_map, model_kwargs)
        return cls.from_components(model, tokenizer, model_name=model_name or str(path), **settings)

    @classmethod
    def from_components(
        cls, model: Any, tokenizer: Any, *, model_name: str, **settings: Any
    ) -> LocalChatModel:
        """Wrap an already loaded transformers model and tokenizer."""
        if tokenizer.chat_template is None:
            raise ValueError(
                f"{model_name}: the tokenizer has no chat template; use an instruct/chat model "
                "or set tokenizer.chat_template before wrapping it"
            )
        llm = cls(model_name=model_name, **settings)
        llm._wrap(model, tokenizer)
        return llm

    def _wrap(self, model: Any, tokenizer: Any) -> None:
        from agentlab.models.decode_cache import full_attention_only

        require("transformers")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.eval()
        self._model, self._tokenizer = model, tokenizer
        self._full_attention_only = full_attention_only(model)
        if model.device.type == "cpu":
            self._threads = ThreadTuner(fixed=None if self.threads == "auto" else self.threads)
            if self.generation != "static":  # torch.compile takes neither, and does its own packing
                if self.pack_weights:
                    pack_linear_layers(model)
                use_grouped_attention(model)
        if self.prefix_cache_mib > 0 and self._full_attention_only:
            self._prefix_cache = PrefixCache(self.prefix_block_tokens, self.prefix_cache_mib * 2**20)

    def _loaded(self) -> None:
        """Loads ``model_name``'s weights when the model was constructed without them."""
        if self._model is None:
            model, tokenizer = load_weights(self.model_name, "auto", None, None)
            if tokenizer.chat_template is None:
                raise ValueError(
                    f"{self.model_name}: the tokenizer has no chat template; use an instruct/chat model"
                )
            self._wrap(model, tokenizer)

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def hf_model(self) -> Any:
        return self._model

    @property
    def prefix_cache(self) -> PrefixCache | None:
        """The padded path's prompt-prefix cache (None when off or when the model's layers keep
        anything but a plain attention cache)."""
        return self._prefix_cache

    @property
    def _llm_type(self) -> str:
        return "agentlab-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "revision": self.revision,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "agentlab"
        params["ls_model_name"] = kwargs.get("model", self.model_name)
        params["ls_max_tokens"] = self.max_new_tokens
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = call_arguments(self.model_name, kwargs)
        return ChatResult(
            generations=[ChatGeneration(message=self.generate_many([messages], stop, **tools)[0])]
        )

    def _generate_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None, **tools: Any
    ) -> list[AIMessage]:
        return self.generate_many(conversations, stop, **tools)

    def _template(
        self,
        conversation: Sequence[BaseMessage],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> str:
        native = tool_calls.template_defines_tools(self._tokenizer.chat_template)
        chat = tool_calls.chat(conversation, tools, native, tool_choice)
        extra = {"tools": tools} if tools and native else {}
        return self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False, **extra)

    def uses_continuous_batching(self, stop: list[str] | None = None) -> bool:
        self._loaded()
        if self.generation in ("padded", "static") or self.temperature > 0 or stop:
            return False
        return self.generation == "continuous" or self._model.device.type == "cuda"

    def generate_many(
        self,
        conversations: Sequence[Sequence[BaseMessage]],
        stop: list[str] | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> list[AIMessage]:
        """Replies to many conversations; with ``tools``, tool calls in a reply become its
        ``tool_calls`` (see ``tool_calls``)."""
        self._loaded()
        stop = stop or self.stop
        tok = self._tokenizer
        encoded = [
            tok(self._template(c, tools, tool_choice), add_special_tokens=False)["input_ids"]
            for c in conversations
        ]
        if self.temperature > 0:
            replies = self._generate_each(encoded, stop)
        else:
            # greedy: identical prompts (agents without roles reading the same question) decode
            # alike, so each distinct prompt is decoded once and its reply given to every copy
            distinct: dict[tuple[int, ...], int] = {}
            copy_of = [distinct.setdefault(tuple(ids), len(distinct)) for ids in encoded]
            once = self._generate_each([list(ids) for ids in distinct], stop)
            replies = [once[j].model_copy() for j in copy_of]
        return [tool_calls.with_calls(r) for r in replies] if tools else replies

    def _generate_each(self, encoded: list[list[int]], stop: list[str] | None) -> list[AIMessage]:
        with self._threads.session() if self._threads else contextlib.nullcontext():
            return self._generate_sorted(encoded, stop)

    def _generate_sorted(self, encoded: list[list[int]], stop: list[str] | None) -> list[AIMessage]:
        if self.uses_continuous_batching(stop):
            return self._generate_continuous(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        replies: list[AIMessage | None] = [None] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, reply in zip(chunk, self._generate_padded([encoded[i] for i in chunk], stop), strict=True):
                replies[i] = reply
        return replies  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate_padded(self, prompts: list[list[int]], stop: list[str] | None) -> list[AIMessage]:
        tok, model, eos = self._tokenizer, self._model, self.eos_tokens()
        started = time.perf_counter()
        if self.generation == "static":
            options = self._generate_options(stop)
            new_tokens, reused = self.static_decoder.generate(prompts, options), [0] * len(prompts)
        elif self.temperature > 0 or stop or not self._full_attention_only:
            batch = tok.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(model.device)
            new_tokens, reused = self._generate_with_transformers(batch, stop), [0] * len(prompts)
        else:
            new_tokens, reused = greedy_dropping_finished(
                model,
                prompts,
                eos,
                self.max_new_tokens,
                self._prefix_cache,
                self.timeout,
                self._threads,
                self.prompt_lookup_num_tokens,
            )
        latency = time.perf_counter() - started
        return [
            self._reply(prompt, row, eos, latency, cached, stop)
            for prompt, row, cached in zip(prompts, new_tokens, reused, strict=True)
        ]

    @property
    def static_decoder(self) -> StaticDecoder:
        """The ``generation="static"`` path's decoder (its ``compiled_shapes`` say what was compiled)."""
        self._loaded()
        if self._static is None:
            self._static = StaticDecoder(self._model)
        return self._static

    def _generate_continuous(self, prompts: list[list[int]]) -> list[AIMessage]:
        """All prompts at once through transformers' continuous batching (greedy), watched: a
        batching thread that dies or stalls fails the calls instead of leaving them waiting."""
        stream = GenerationStream(self, max(map(len, prompts)) + self.max_new_tokens)
        try:
            return stream.run_all(prompts)
        finally:
            stream.close()

    def eos_tokens(self) -> set[int]:
        """Tokens that end a reply: the model's generation config's and the tokenizer's."""
        return set(_as_list(self._model.generation_config.eos_token_id)) | {self._tokenizer.eos_token_id}

    def greedy_generation_config(self) -> Any:
        """transformers' settings for greedy decoding through continuous batching."""
        from transformers import GenerationConfig

        return GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(self.eos_tokens()),
            pad_token_id=self._tokenizer.pad_token_id,
        )

    def continuous_batching_config(self, call_tokens: int | None = None) -> Any:
        """Pages of ``prefix_block_tokens``: transformers shares only whole pages between requests, and
        its default page (256 tokens) is longer than most shared prefixes of a multi-agent run. Where
        FlashAttention 2 will run, pages are rounded up to a multiple of 256 tokens, the only sizes
        its paged decoding kernel takes (FlashAttention 3 takes any). On a GPU (or with
        ``kv_cache_tokens``, or wherever a GPU is visible) the KV cache and the batch are bounded so
        their buffers fit the model's device (``cache_sizing``); ``call_tokens`` is the longest call
        that must fit."""
        from transformers import ContinuousBatchingConfig

        page = self.prefix_block_tokens
        if _flash_attention_2_will_run(self._model):
            page = -(-page // 256) * 256
        sizes: dict[str, int] = {}
        # transformers sizes from the GPU's memory whenever one is visible, even for a model on the
        # CPU (tests/models on a GPU machine): size from the model's own device then too
        if torch.cuda.is_available() or self._model.device.type == "cuda" or self.kv_cache_tokens is not None:
            needed = call_tokens or self.max_new_tokens + page
            free = free_memory(self._model.device)
            sizes = continuous_sizes(
                KVShape.of(self._model), page, free, needed, cached_tokens=self.kv_cache_tokens
            )
        return ContinuousBatchingConfig(page_size=page, **sizes)

    def open_stream(self) -> GenerationStream:
        """A running continuous batch that takes calls one by one and gives each back as soon as it
        ends, so a caller can submit follow-up calls without waiting for the rest (greedy only)."""
        if not self.uses_continuous_batching():
            raise ValueError(
                f"{self.model_name}: streaming needs continuous batching (generation='continuous', or "
                "generation='auto' on a GPU)"
            )
        return GenerationStream(self)

    def _reply(
        self,
        prompt: list[int],
        row: list[int],
        eos: set[int],
        latency: float,
        cached: int = 0,
        stop: list[str] | None = None,
    ) -> AIMessage:
        """The reply to one prompt: its text (cut before a stop string; the tokens generated up to
        and through it are still counted) and exact usage."""
        tok = self._tokenizer
        end = _completion_length(row, eos, tok.pad_token_id)
        text = _before_stop(tok.decode(row[:end], skip_special_tokens=True), stop).strip()
        usage: dict[str, Any] = {
            "input_tokens": len(prompt),
            "output_tokens": end,
            "total_tokens": len(prompt) + end,
        }
        if cached:
            usage["input_token_details"] = {"cache_read": cached}
        finish = "stop" if end < len(row) or (end and row[end - 1] in eos) else "length"
        metadata = {"model_name": self.model_name, "finish_reason": finish, "batch_latency": latency}
        return AIMessage(text, usage_metadata=usage, response_metadata=metadata)

    def _generate_with_transformers(self, batch: Any, stop: list[str] | None) -> list[list[int]]:
        """Sampling, stop strings, and models with sliding-window or recurrent layers (which our
        greedy decoder does not pack): ``model.generate`` on the padded batch."""
        output = self._model.generate(**batch, **self._generate_options(stop))
        return output[:, batch["input_ids"].shape[1] :].tolist()

    def _generate_options(self, stop: list[str] | None) -> dict[str, Any]:
        """``generate``'s settings (and the sampling seed applied, where one is set)."""
        tok = self._tokenizer
        sampling = self.temperature > 0
        options: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": sampling,
            "pad_token_id": tok.pad_token_id,
            "temperature": self.temperature if sampling else None,
            "top_p": self.top_p if sampling else None,
            "top_k": None,
            "max_time": self.timeout,
        }
        if stop:
            options |= {"stop_strings": stop, "tokenizer": tok}
        if sampling and self.seed is not None:
            torch.manual_seed(self.seed)
        return options

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Token by token (``token_stream``); the usage, exact, rides on the last chunk."""
        tools = call_arguments(self.model_name, kwargs)
        if tools:  # a call is only known whole: the reply comes as one chunk, its calls parsed
            reply = self.generate_many([messages], stop, **tools)[0]
            yield ChatGenerationChunk(message=as_last_chunk(reply))
            return
        yield from stream_tokens(self, messages, stop, run_manager)


def _before_stop(text: str, stop: list[str] | None) -> str:
    cuts = [text.find(s) for s in stop or () if s and s in text]
    return text[: min(cuts)] if cuts else text


@backend("local", requires=("transformers",), install="pip install transformers accelerate")
def _local_backend(spec: ModelSpec, seed: int, device: str | None) -> LocalChatModel:
    if not spec.path:
        raise ValueError("model.kind 'local' needs model.path (a folder, a .gguf file or a hub id)")
    return LocalChatModel.from_pretrained(spec.path, **spec.local_settings(device), seed=seed)


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def _completion_length(row: list[int], eos: set[int], pad: int) -> int:
    """Tokens the model generated for this row: through the first end-of-sequence token, else up to
    the padding that fills rows which stopped early (on a stop string)."""
    end = next((j + 1 for j, t in enumerate(row) if t in eos), None)
    if end is None:
        end = len(row)
        while end and row[end - 1] == pad:
            end -= 1
    return end


def _flash_attention_2_will_run(model: Any) -> bool:
    """Whether continuous batching will attend with FlashAttention 2: asked for by name, or the best
    flash attention installed when transformers switches sdpa/eager to flash (3 first, then 2)."""
    from transformers.utils import is_flash_attn_2_available, is_flash_attn_3_available

    asked = str(model.config._attn_implementation or "")
    if "flash" in asked or asked == "paged|eager":
        return "flash_attention_2" in asked
    return (
        getattr(model, "_supports_flash_attn", False)
        and is_flash_attn_2_available(kernels_fallback_ok=True)
        and not is_flash_attn_3_available(kernels_fallback_ok=True)
    )
