"""Weights and tokenizer of a local model: a folder, a GGUF file or a hub id (offline when the hub is
out of reach), placed on devices by accelerate."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from agentlab import _hub
from agentlab.models.cache_sizing import free_memory


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
            if not {"max_memory", "offload_folder", "quantization_config"} & set(model_kwargs or {}):
                check_fits(path, dtype, device_map)
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


def weight_bytes(path: str, dtype: Any) -> tuple[int, torch.dtype] | None:
    """Bytes the weights of ``path`` take in ``dtype`` ("auto": the checkpoint's), counted on a model
    built on the meta device from its config (nothing is read but the config); None for a quantized
    checkpoint, whose size its quantizer decides."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    if getattr(config, "quantization_config", None):
        return None
    if dtype == "auto":
        dtype = getattr(config, "dtype", None) or torch.float32
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters()) * dtype.itemsize, dtype


SPREADING = ("auto", "balanced", "balanced_low_0", "sequential")  # accelerate's device_map strategies


def check_fits(path: str, dtype: Any, device_map: Any) -> None:
    """A ``ValueError`` with the weights' size and the free memory when ``path`` cannot fit where
    ``device_map`` puts it (every visible GPU together for a strategy such as "auto"), instead of an
    out-of-memory error midway through loading or accelerate quietly offloading layers to the CPU."""
    if device_map in SPREADING:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = [torch.device("cuda", i) for i in range(count)] or [torch.device("cpu")]
    elif isinstance(device_map, str | int | torch.device):
        devices = [torch.device(device_map)]
    elif isinstance(device_map, dict) and len(set(device_map.values())) == 1:
        devices = [torch.device(next(iter(device_map.values())))]
    elif device_map is None:
        devices = [torch.device("cpu")]
    else:
        return  # a placement layer by layer: the caller chose it
    size = weight_bytes(path, dtype)
    if size is None:
        return
    need, dtype = size
    free = sum(free_memory(d) for d in devices)
    if need > free:
        where = ", ".join(str(d) for d in devices)
        raise ValueError(
            f"{path}: its weights take {_size(need)} in {str(dtype).removeprefix('torch.')}, and "
            f"{where} {'has' if len(devices) == 1 else 'have'} {_size(free)} free: choose a smaller "
            "model or dtype (dtype='bfloat16'), free memory, or spread it over more GPUs "
            "(device_map='auto'); to offload layers to the CPU on purpose, pass "
            "model_kwargs={'max_memory': {...}}"
        )


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
