"""Weights and tokenizer of a local model: a folder, a GGUF file or a hub id (offline when the hub is
out of reach), placed on devices by accelerate."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from agentlab import _hub


def load_weights(
    path: str, dtype: Any, device_map: Any, model_kwargs: dict[str, Any] | None
) -> tuple[Any, Any]:
    """Weights and tokenizer of a local folder, a GGUF file or a hub id, placed by accelerate."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device_map is None and torch.cuda.is_available():
        device_map = "auto"
    if path.endswith(".gguf") and not Path(path).is_dir():  # one file: transformers dequantises it
        gguf = Path(path).expanduser()
        if not gguf.is_file():
            raise FileNotFoundError(
                f"the GGUF file {path} does not exist; give the path of a .gguf file that is here "
                "(or a model folder or hub id)"
            )
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=dtype, device_map=device_map, **(model_kwargs or {})
        )
        return model, tokenizer
    out_of_reach = None if Path(path).exists() else _hub.unreachable()
    try:
        with _hub.offline() if out_of_reach else contextlib.nullcontext():
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, device_map=device_map, **(model_kwargs or {})
            )
    except OSError as error:
        if not out_of_reach:
            raise
        raise OSError(
            f"{path} is not a folder here, the hub is out of reach ({out_of_reach}) and no cached copy "
            f"was found. Download it where the hub is reachable (huggingface-cli download {path} "
            f"--local-dir DIR), bring DIR here and load al.models.local('DIR')"
        ) from error
    return model, tokenizer
