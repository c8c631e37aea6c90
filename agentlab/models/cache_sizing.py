"""Sizing transformers' continuous batching so its buffers fit the device.

Left to itself, continuous batching sizes its KV cache (``num_blocks``) and its batch
(``max_batch_tokens``) from the free memory of the card. On a 141 GB H200 without flash attention
that made sdpa's dense attention mask, ``max_batch_tokens`` × (cached tokens read +
``max_batch_tokens``) elements, larger than the card: ``CUDA error: out of memory`` inside the
batching thread, and every call waiting on a thread that had died. Here both are bounded: the KV
cache takes at most ``kv_fraction`` of the free memory and never more than ``MOST_CACHED_TOKENS``,
and the batch is the largest power of two whose mask fits in ``mask_fraction`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MOST_CACHED_TOKENS = 2**18  # 262,144 tokens: thousands of multi-agent calls in flight at once
MOST_BATCH_TOKENS = 8192  # tokens of one forward: past this a step is long enough not to gain
MASK_BYTES = 4  # a float32 mask element, the widest sdpa is handed


@dataclass(frozen=True)
class KVShape:
    """What one token of context costs in the KV cache: keys and values, every layer."""

    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int

    @classmethod
    def of(cls, model: Any) -> KVShape:
        config = model.config
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        dtype = next(model.parameters()).dtype
        return cls(config.num_hidden_layers, kv_heads, head_dim, dtype.itemsize)

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


def free_memory(device: Any) -> int:
    """Bytes free on ``device``: the card's, or the machine's available memory on a CPU."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024


def continuous_sizes(
    shape: KVShape,
    page: int,
    free_bytes: int,
    call_tokens: int,
    *,
    cached_tokens: int | None = None,
    kv_fraction: float = 0.5,
    mask_fraction: float = 0.1,
) -> dict[str, int]:
    """``num_blocks`` and ``max_batch_tokens`` for ``ContinuousBatchingConfig``.

    ``call_tokens``: the longest call (prompt and new tokens) that must fit. ``cached_tokens``:
    the KV cache's size when the caller knows it (else what the memory allows). A ``ValueError``
    says what to lower when one call cannot fit.

    >>> shape = KVShape(layers=24, kv_heads=2, head_dim=64, dtype_bytes=2)   # Qwen2.5-0.5B in bf16
    >>> continuous_sizes(shape, page=32, free_bytes=140 * 2**30, call_tokens=600)
    {'num_blocks': 8192, 'max_batch_tokens': 8192}
    """
    affordable = int(kv_fraction * free_bytes) // shape.bytes_per_token
    tokens = min(cached_tokens or affordable, affordable, MOST_CACHED_TOKENS)
    blocks = tokens // page
    if blocks * page < call_tokens:
        raise ValueError(
            f"the continuous batch's KV cache holds {blocks * page:,} tokens ({shape.bytes_per_token:,} "
            f"bytes each; {kv_fraction:.0%} of {free_bytes / 2**30:.1f} GiB free, or kv_cache_tokens), and "
            f"one call needs {call_tokens:,}: lower max_new_tokens or the prompt's length, raise "
            "kv_cache_tokens, free memory on the device, or use generation='padded'"
        )
    batch = MOST_BATCH_TOKENS
    while batch > page and batch * (blocks * page + batch) * MASK_BYTES > mask_fraction * free_bytes:
        batch //= 2
    return {"num_blocks": blocks, "max_batch_tokens": batch}
