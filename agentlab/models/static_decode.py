"""Decoding through transformers' ``generate`` over a static KV cache, with the decode step compiled.

On a GPU a decode step of a small model is hundreds of kernel launches, each shorter than launching
it: on an H200 the padded path reached 4,145 tokens/s at ~160 rows, about 1% of what the card could
do at that width (issue 31). A static cache (buffers of a fixed length, written in place) lets
``torch.compile`` specialise the step, and its ``reduce-overhead`` mode replays the step as one CUDA
graph. This is transformers' own recipe (``cache_implementation="static"`` with a ``CompileConfig``);
what is ours is keeping the number of compiled steps small and the cache's addresses fixed:

- a compiled step is specialised to its shapes, the rows and the cache's length, so rows are padded
  to a power of two (copies of the first prompt, dropped afterwards) and the cache's length only
  grows, in whole ``length_step`` tokens: a run compiles a handful of steps, not one per call;
- one cache is kept and reset in place while the shape holds: a CUDA graph replays on the buffers it
  was recorded with, and transformers would otherwise make a new cache for every ``generate`` call.

Rows that end keep being fed padding until the batch's longest reply ends: on a GPU a step costs
the read of the weights, about the same for one row as for hundreds. On a CPU, where a step is
compute-bound, the padded path (``greedy.py``) is the faster one; this path compiles there too (with
inductor's default mode), so its outputs are tested on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch

from agentlab.models.cache_sizing import KVShape, free_memory
from agentlab.models.greedy import _with_cache

MOST_SHAPES = 64  # compiled decode steps kept per model: rows buckets x cache lengths x stop strings or not


def rows_bucket(rows: int) -> int:
    """The power of two a batch of ``rows`` is padded to.

    >>> [rows_bucket(n) for n in (1, 2, 3, 5, 64, 65)]
    [1, 2, 4, 8, 64, 128]
    """
    return 1 << max(rows - 1, 0).bit_length()


class StaticDecoder:
    """``generate`` over one reused ``StaticCache`` with a compiled decode step (module docstring)."""

    def __init__(self, model: Any, length_step: int = 256, kv_fraction: float = 0.5) -> None:
        if length_step < 1:
            raise ValueError(f"length_step must be at least 1, got {length_step}")
        self.model = model
        self.length_step = length_step
        self.kv_fraction = kv_fraction
        self.compiled_shapes: set[tuple[int, int]] = set()  # (rows, cache length) seen so far
        self._cache: Any = None
        self._shape: tuple[int, int] | None = None

    def shape_for(self, rows: int, tokens: int) -> tuple[int, int]:
        """Rows and cache length for ``rows`` calls of at most ``tokens`` tokens (prompt and reply).

        The length never shrinks below the last one used, so a shorter batch reuses its step.
        """
        length = -(-tokens // self.length_step) * self.length_step
        if self._shape is not None:
            length = max(length, self._shape[1])
        return rows_bucket(rows), length

    def _cache_for(self, shape: tuple[int, int]) -> Any:
        from transformers import StaticCache

        if shape == self._shape:
            self._cache.reset()
            return self._cache
        self._cache = None  # the old buffers go before the new ones are made
        _check_fits(self.model, shape, self.kv_fraction)
        self._cache, self._shape = StaticCache(config=self.model.config, max_cache_len=shape[1]), shape
        return self._cache

    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], options: dict[str, Any]) -> list[list[int]]:
        """Each prompt's new tokens (``options``: ``generate``'s other settings, ``max_new_tokens`` and
        ``pad_token_id`` among them)."""
        from transformers import CompileConfig

        width = max(map(len, prompts))
        shape = self.shape_for(len(prompts), width + options["max_new_tokens"])
        rows = [*prompts, *[prompts[0]] * (shape[0] - len(prompts))]
        ids = torch.full((len(rows), width), options["pad_token_id"], dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, prompt in enumerate(rows):
            ids[k, width - len(prompt) :] = torch.tensor(prompt)
            mask[k, width - len(prompt) :] = 1
        device = self.model.device
        compile_config = CompileConfig(
            dynamic=False, mode="reduce-overhead" if device.type == "cuda" else "default"
        )
        compile_config._compile_all_devices = True  # a CPU compiles too: its outputs are what the tests check
        # dynamo compiles a function for at most recompile_limit (8) shapes, then quietly runs the rest
        # eagerly: a long run's row buckets, cache lengths and stop strings can pass that
        limit = max(torch._dynamo.config.recompile_limit, MOST_SHAPES)
        with torch._dynamo.config.patch(recompile_limit=limit):
            output = self.model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                compile_config=compile_config,
                **_with_cache(self.model, self._cache_for(shape)),
                **options,
            )
        self.compiled_shapes.add(shape)
        return output[: len(prompts), width:].tolist()


def _check_fits(model: Any, shape: tuple[int, int], kv_fraction: float) -> None:
    """A ``ValueError`` naming what to lower when the cache would take more than ``kv_fraction`` of
    the device's free memory."""
    rows, length = shape
    need = rows * length * KVShape.of(model).bytes_per_token
    free = free_memory(model.device)
    if need > kv_fraction * free:
        raise ValueError(
            f"generation='static': a KV cache of {rows} rows x {length:,} tokens needs "
            f"{need / 2**30:.1f} GiB, more than {kv_fraction:.0%} of the {free / 2**30:.1f} GiB free "
            f"on {model.device}: lower "
            "batch_size (rows are padded to a power of two) or max_new_tokens, or shorten the prompts"
        )
