"""Any langchain-core chat model from an experiment file: ``model: {class: langchain_openai.ChatOpenAI,
args: {model: gpt-4o-mini, temperature: 0}}``.

The class is imported and its arguments checked when the file is validated, before any model is
built: a missing package gets its install command, an unknown argument the closest valid one. Keys
for hosted APIs never come from the file (it is copied into the run folder as ``config.yaml``):
an argument named like a key or a secret is refused, and the class reads it from the environment
(``OPENAI_API_KEY`` and the like), as langchain's integrations do.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from langchain_core.language_models import BaseChatModel

from agentlab.models.backends import ModelSpec, backend
from agentlab.registry import did_you_mean

_SECRET = re.compile(r"(api_?key|secret|token|password|credential)s?$", re.IGNORECASE)


def chat_model_class(path: str) -> type[BaseChatModel]:
    """The class ``path`` ("package.module.Class") names, or a ValueError saying what to do."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"class {path!r}: give the full import path, e.g. langchain_openai.ChatOpenAI")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        top = (error.name or module_name).split(".")[0]
        raise ValueError(
            f"class {path!r}: module {module_name!r} is not installed; install it with: "
            f"pip install {top.replace('_', '-')}"
        ) from None
    found = getattr(module, class_name, None)
    if found is None:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ValueError(
            f"class {path!r}: {module_name} has no {class_name!r}{did_you_mean(class_name, names)}"
        )
    if not (isinstance(found, type) and issubclass(found, BaseChatModel)):
        raise ValueError(f"class {path!r} is not a langchain-core chat model (a BaseChatModel subclass)")
    return found


def argument_problems(cls: type[BaseChatModel], args: dict[str, Any]) -> list[str]:
    """Arguments the class does not take, and secrets that belong in the environment."""
    problems = [
        f"args.{key}: a key or secret does not go in an experiment file (it is copied into the run "
        f"folder); set it in the environment the class reads (e.g. OPENAI_API_KEY) and drop it here"
        for key in args
        if _SECRET.search(key)
    ]
    accepts = {name for name, info in cls.model_fields.items()} | {
        info.alias for info in cls.model_fields.values() if info.alias
    }
    if cls.model_config.get("extra") != "allow":
        for key in sorted(set(args) - accepts):
            if not _SECRET.search(key):
                problems.append(
                    f"args.{key}: {cls.__name__} takes no {key!r}{did_you_mean(key, sorted(accepts))}"
                )
    return problems


@backend("class")
def _class_backend(spec: ModelSpec, seed: int, device: str | None) -> BaseChatModel:
    """``spec.class_(**spec.args)``; the run's seed and device are the class's own business."""
    assert spec.class_ is not None
    return chat_model_class(spec.class_)(**spec.args)
