"""Models: the embedded default, local transformers models, pools of OpenAI-compatible servers, vLLM
in this process, and a scripted fake for tests.

Any langchain-core ``BaseChatModel`` works as an agent's model as it is. Experiment files name a
backend by ``kind:``; a new backend is one function registered with ``@al.models.backend(name)``.
"""

from __future__ import annotations

from typing import Any

from agentlab.models.backends import BACKENDS, ModelSpec, backend, build
from agentlab.models.embedded import default
from agentlab.models.local_chat import LocalChatModel
from agentlab.models.scripted import ScriptedChatModel
from agentlab.models.server_pool import OpenAIPoolChatModel, ServerPoolError, ServerUsage
from agentlab.models.vllm_engine import VLLMChatModel


def local(name_or_path: str, **kwargs: Any) -> LocalChatModel:
    """A local transformers model as a chat model: ``al.models.local("Qwen/Qwen2.5-7B-Instruct")``.

    Keyword arguments are ``LocalChatModel.from_pretrained``'s: generation settings
    (``max_new_tokens``, ``temperature``, ``top_p``, ``seed``, ``batch_size``) and loading options
    (``dtype``, ``device_map``, ``model_kwargs``).
    """
    return LocalChatModel.from_pretrained(name_or_path, **kwargs)


def openai_pool(servers: str | list[str], model: str | None = None, **kwargs: Any) -> OpenAIPoolChatModel:
    """OpenAI-compatible servers serving one model, as one chat model:
    ``al.models.openai_pool(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], concurrency=32)``.

    ``model``: its name on the servers (None asks them). Keyword arguments are
    ``OpenAIPoolChatModel``'s: ``concurrency`` (requests in flight per server), ``max_tokens``,
    ``temperature``, ``top_p``, ``seed``, ``timeout``, ``max_retries``, ``retry_backoff``,
    ``extra_body``. A key for a hosted API comes from ``OPENAI_API_KEY``.
    """
    return OpenAIPoolChatModel(
        servers=[servers] if isinstance(servers, str) else servers, model=model, **kwargs
    )


def vllm(model: str, **kwargs: Any) -> VLLMChatModel:
    """vLLM's offline engine in this process, prefix caching on: ``al.models.vllm("Qwen/Qwen2.5-7B-Instruct",
    engine_args={"gpu_memory_utilization": 0.8})``. Keyword arguments are ``VLLMChatModel``'s:
    ``max_new_tokens``, ``temperature``, ``top_p``, ``seed``, ``engine_args`` (for ``vllm.LLM``).
    The engine is built on the first call."""
    return VLLMChatModel(model=model, **kwargs)


__all__ = [
    "BACKENDS",
    "LocalChatModel",
    "ModelSpec",
    "OpenAIPoolChatModel",
    "ScriptedChatModel",
    "ServerPoolError",
    "ServerUsage",
    "VLLMChatModel",
    "backend",
    "build",
    "default",
    "local",
    "openai_pool",
    "vllm",
]
