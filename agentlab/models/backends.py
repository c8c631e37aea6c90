"""Model backends: what ``kind:`` in an experiment file's ``model:`` section names.

A backend is one function that builds a langchain-core chat model from a ``ModelSpec``, registered
where the backend lives: ``@backend("local", requires=("transformers",))``. A backend whose
packages are missing still shows in the list of kinds, and choosing it fails with the install
command before any model is built.

>>> {"default", "local", "scripted"} <= set(BACKENDS)
True
>>> build(ModelSpec(kind="scripted", reply="The answer is 3"), seed=0).invoke("2 + 1?").content
'The answer is 3'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentlab.registry import Registry


class ModelSpec(BaseModel):
    """A model as an experiment file gives it; every field but ``kind`` is a backend's setting."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    kind: str = "default"  # a registered backend: default (embedded), local, openai, scripted, class, ...
    # any langchain-core chat model: its import path and constructor arguments (kind becomes "class")
    class_: str | None = Field(None, alias="class")
    args: dict[str, Any] = Field(default_factory=dict)  # class: its constructor's; vllm: vllm.LLM's
    path: str | None = None  # local, vllm: a folder or hub id
    # openai: OpenAI-compatible servers (vLLM, SGLang, llama.cpp's server, a hosted API), base URLs
    # ending in /v1; giving servers makes the kind openai
    servers: list[str] = Field(default_factory=list)
    served_model: str | None = None  # openai: the model's name on the servers; None asks them
    concurrency: int = Field(8, ge=1)  # openai: requests in flight per server
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)  # 0 is greedy
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    batch_size: int = Field(64, ge=1)
    prefix_cache_mib: int = Field(512, ge=0)  # memory for prompt prefixes read once; 0 turns it off
    # local, default: how calls are decoded (LocalChatModel.generation): auto, padded, continuous, or
    # static (a compiled decode step over a static KV cache: CUDA graphs on a GPU)
    generation: Literal["auto", "padded", "continuous", "static"] = "auto"
    reply: str = "The answer is 0"  # scripted: what every agent says (dry runs, tests)
    delay: float = Field(0.0, ge=0.0)  # scripted: seconds each batch takes

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        try:  # an unknown kind, or one whose packages are missing, is named before any model loads
            BACKENDS.resolve(kind)
        except ImportError as error:
            raise ValueError(str(error)) from None
        return kind

    @model_validator(mode="before")
    @classmethod
    def _servers_alone(cls, data: Any) -> Any:
        """A bare list of URLs is a pool of servers: ``model: [http://a:8000/v1, http://b:8000/v1]``."""
        if isinstance(data, list | tuple) and all(isinstance(url, str) for url in data):
            return {"kind": "openai", "servers": list(data)}
        if isinstance(data, dict) and data.get("servers") and "kind" not in data:
            return {**data, "kind": "openai"}
        return data

    @model_validator(mode="after")
    def _servers_belong_to_openai(self) -> ModelSpec:
        if self.kind == "openai":
            from agentlab.models.server_pool import base_urls

            if not self.servers:
                raise ValueError("kind openai needs servers: a list of URLs, e.g. [http://127.0.0.1:8000/v1]")
            self.servers = base_urls(self.servers)
        else:
            fields = type(self).model_fields
            for name in ("servers", "served_model", "concurrency"):  # a saved config lists defaults
                if getattr(self, name) != fields[name].get_default(call_default_factory=True):
                    raise ValueError(f"{name}: only a pool of servers (kind: openai) takes {name}")
        return self

    @model_validator(mode="after")
    def _chat_class(self) -> ModelSpec:
        if self.class_ is None:
            if self.args and self.kind != "vllm":
                raise ValueError("args: only a model given by `class:` (or kind vllm) takes args")
            return self
        from agentlab.models.chat_class import argument_problems, chat_model_class

        if "kind" in self.model_fields_set and self.kind != "class":
            raise ValueError(f"give either kind ({self.kind!r}) or class, not both")
        settings = sorted(  # a saved config.yaml lists every field, at its default when unused
            name
            for name, info in type(self).model_fields.items()
            if name not in ("kind", "class_", "args")
            and getattr(self, name) != info.get_default(call_default_factory=True)
        )
        if settings:
            raise ValueError(
                f"{settings}: a model given by `class:` takes its settings in `args:` "
                f"(e.g. args: {{{settings[0]}: ...}}), under the class's own names"
            )
        problems = argument_problems(chat_model_class(self.class_), self.args)
        if problems:
            raise ValueError("; ".join(problems))
        self.kind = "class"
        return self

    def local_settings(self, device: str | None = None) -> dict[str, Any]:
        """The settings a local backend passes on: generation, and the device when one is given."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "batch_size": self.batch_size,
            "prefix_cache_mib": self.prefix_cache_mib,
            "generation": self.generation,
            **({"device_map": {"": device}} if device else {}),
        }


# (spec, seed, device) -> chat model; device: where this process should put its copy ("cuda:1"),
# None to let the backend choose
Backend = Callable[[ModelSpec, int, str | None], BaseChatModel]

BACKENDS: Registry[Backend] = Registry("model backend", packages=["agentlab.models"])


def backend(
    name: str, *, requires: Iterable[str] = (), install: str | None = None
) -> Callable[[Backend], Backend]:
    """Registers a backend under ``name``: ``requires`` are import names it needs, ``install`` the
    command that installs them."""
    return BACKENDS.register(name, requires=requires, install=install)


def build(spec: ModelSpec, seed: int, device: str | None = None) -> BaseChatModel:
    """The chat model ``spec`` describes, seeded with ``seed`` where the backend samples."""
    model = BACKENDS.resolve(spec.kind)(spec, seed, device)
    if not isinstance(model, BaseChatModel):
        raise TypeError(
            f"model backend {spec.kind!r} returned a {type(model).__name__}, "
            "not a langchain-core BaseChatModel"
        )
    return model
