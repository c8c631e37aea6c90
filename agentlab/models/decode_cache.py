"""The KV cache greedy decoding writes into: each row its prompt left-padded to the batch's longest,
with spare columns that new tokens are written into in place.

transformers' ``DynamicLayer`` concatenates at every decoding step, copying the whole cache each time:
on two CPU cores that was a fifth of a 48-row decoding step (benchmarks/README.md). Packing also
drops the gaps a prefix-cached read leaves between a row's cached prefix and the rest of its prompt,
so decoding attends over no more columns than the longest prompt has.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


def full_attention_only(model: Any) -> bool:
    """True when every layer keeps a plain full-attention cache (no sliding window, no state)."""
    layers = DynamicCache(config=model.config).layers
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


class GrowingLayer(DynamicLayer):
    """A full-attention cache layer over buffers with spare columns; ``keys``/``values`` are views of
    the filled part. Only what greedy decoding calls is kept in step: ``update`` and
    ``batch_select_indices``."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int, spare: int) -> None:
        super().__init__()
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._buffers = (keys, values)  # (rows, kv_heads, capacity, head_dim)
        self._length, self._spare = length, spare
        self._expose()

    def _expose(self) -> None:
        self.keys, self.values = (b[..., : self._length, :] for b in self._buffers)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        end = self._length + key_states.shape[-2]
        if end > self._buffers[0].shape[-2]:  # out of spare columns: grow by another `spare`
            self._buffers = tuple(F.pad(b, (0, 0, 0, end - b.shape[-2] + self._spare)) for b in self._buffers)
        for buffer, new in zip(self._buffers, (key_states, value_states), strict=True):
            buffer[..., self._length : end, :] = new
        self._length = end
        self._expose()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._buffers = tuple(b[indices] for b in self._buffers)
        self._expose()


def pack(caches: list[Any], masks: list[torch.Tensor], spare: int) -> tuple[Cache, torch.Tensor]:
    """One cache over all rows of ``caches`` (row order kept), each row's unmasked columns moved to
    the end of the longest row's width and ``spare`` columns left free after it; and its mask."""
    width = max(int(m.sum(-1).max()) for m in masks)
    sources = [_source_columns(m, width) for m in masks]
    rows = sum(m.shape[0] for m in masks)
    layers = []
    for i in range(len(caches[0].layers)):
        like = caches[0].layers[i].keys
        buffers = [like.new_empty((rows, like.shape[1], width + spare, like.shape[-1])) for _ in range(2)]
        first = 0
        for cache, columns in zip(caches, sources, strict=True):
            layer = cache.layers[i]
            index = columns[:, None, :, None].expand(-1, like.shape[1], -1, like.shape[-1])
            last = first + columns.shape[0]
            for buffer, part in zip(buffers, (layer.keys, layer.values), strict=True):
                buffer[first:last, :, :width] = part.gather(2, index)
            first = last
        layers.append(GrowingLayer(*buffers, length=width, spare=spare))
    kept = torch.cat([m.sum(-1) for m in masks])
    mask = torch.arange(width, device=kept.device) >= width - kept[:, None]
    return Cache(layers=layers), mask.long()


def _source_columns(mask: torch.Tensor, width: int) -> torch.Tensor:
    """For each row, the column each of the ``width`` packed columns comes from: its unmasked columns
    in order, right-aligned; the padding before them reads column 0 (masked out)."""
    n = mask.shape[1]
    columns = torch.where(mask.bool(), torch.arange(n, device=mask.device), -1).sort(dim=1).values
    columns = columns[:, -width:] if n >= width else F.pad(columns, (width - n, 0), value=-1)
    return columns.clamp(min=0)
