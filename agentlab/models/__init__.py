"""Models: the embedded default, local transformers models, and a scripted fake for tests.

Any langchain-core ``BaseChatModel`` works as an agent's model as it is. Experiment files name a
backend by ``kind:``; a new backend is one function registered with ``@al.models.backend(name)``.
"""

from __future__ import annotations

from typing import Any

from agentlab.models.backends import BACKENDS, ModelSpec, backend, build
from agentlab.models.embedded import default
from agentlab.models.local_chat import LocalChatModel
from agentlab.models.scripted import ScriptedChatModel


def local(name_or_path: str, **kwargs: Any) -> LocalChatModel:
    """A local transformers model as a chat model: ``al.models.local("Qwen/Qwen2.5-7B-Instruct")``.

    Keyword arguments are ``LocalChatModel.from_pretrained``'s: generation settings
    (``max_new_tokens``, ``temperature``, ``top_p``, ``seed``, ``batch_size``) and loading options
    (``dtype``, ``device_map``, ``model_kwargs``).
    """
    return LocalChatModel.from_pretrained(name_or_path, **kwargs)


__all__ = [
    "BACKENDS",
    "LocalChatModel",
    "ModelSpec",
    "ScriptedChatModel",
    "backend",
    "build",
    "default",
    "local",
]
