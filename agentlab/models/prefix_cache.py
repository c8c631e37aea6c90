"""Attention keys and values of prompt prefixes, kept across calls, so shared prefixes are read once.

In a multi-agent run most prompt tokens repeat: every agent of an item reads the same system prompt
and question, and an agent's next-round prompt starts with its last one. On hardware where reading a
prompt is compute-bound (a CPU), reading those tokens again is most of the cost of a call
(benchmarks/README.md). The cache follows vLLM's automatic prefix caching: prompts are cut into
blocks of ``block_tokens``; a block is found by its tokens and the block before it, so a hit is
always an exact prefix. Blocks are evicted least recently used first once ``max_bytes`` is reached.

Keys are stored after the rotary embedding, at the positions they had in the prompt; a prefix is only
ever reused at the same positions, so the reuse is exact up to floating-point rounding.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch


@dataclass(slots=True)
class _Block:
    id: int
    kv: torch.Tensor  # (layers, 2, kv_heads, block_tokens, head_dim): keys then values


class PrefixCache:
    """Prompt-prefix keys and values in blocks, least recently used evicted first.

    ``match(ids)`` gives the longest cached prefix of ``ids`` (whole blocks) and its keys and values;
    ``store(ids, kv, start)`` keeps the whole blocks of ``ids`` from ``kv``, which holds positions
    ``start`` onwards.
    """

    def __init__(self, block_tokens: int = 16, max_bytes: int = 512 * 2**20) -> None:
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be at least 1, got {block_tokens}")
        self.block_tokens = block_tokens
        self.max_bytes = max_bytes
        self.bytes = 0
        self.tokens_read = 0  # prompt tokens served from the cache so far
        self._blocks: OrderedDict[tuple[int, tuple[int, ...]], _Block] = OrderedDict()
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._blocks)

    def _key(self, parent: int, ids: list[int], j: int) -> tuple[int, tuple[int, ...]]:
        b = self.block_tokens
        return parent, tuple(ids[j * b : (j + 1) * b])

    def cached_length(self, ids: list[int]) -> int:
        """Tokens of the longest cached prefix of ``ids``, without counting it as a use."""
        parent, j = 0, 0
        while (j + 1) * self.block_tokens <= len(ids):
            block = self._blocks.get(self._key(parent, ids, j))
            if block is None:
                break
            parent, j = block.id, j + 1
        return j * self.block_tokens

    def match(self, ids: list[int]) -> tuple[int, torch.Tensor | None]:
        """Length of the longest cached prefix of ``ids``; its keys and values (layers, 2, heads, n, dim)."""
        found, parent = [], 0
        for j in range(len(ids) // self.block_tokens):
            key = self._key(parent, ids, j)
            block = self._blocks.get(key)
            if block is None:
                break
            self._blocks.move_to_end(key)
            found.append(block.kv)
            parent = block.id
        if not found:
            return 0, None
        tokens = len(found) * self.block_tokens
        self.tokens_read += tokens
        return tokens, torch.cat(found, dim=3) if len(found) > 1 else found[0]

    def store(self, ids: list[int], kv: torch.Tensor, start: int = 0) -> None:
        """Keep the whole blocks of ``ids`` that ``kv`` (positions ``start`` onwards) covers.

        Blocks before ``start`` must be cached already (they are what ``match`` returned); if one has
        been evicted meanwhile, nothing after it is stored, as it could never be found.
        """
        parent = 0
        for j in range(len(ids) // self.block_tokens):
            key = self._key(parent, ids, j)
            block = self._blocks.get(key)
            if block is None:
                begin = j * self.block_tokens - start
                if begin < 0:
                    return
                part = kv[:, :, :, begin : begin + self.block_tokens].clone()
                block = _Block(self._next_id, part)
                self._next_id += 1
                self._blocks[key] = block
                self.bytes += part.numel() * part.element_size()
            else:
                self._blocks.move_to_end(key)
            parent = block.id
        while self.bytes > self.max_bytes and self._blocks:
            _, evicted = self._blocks.popitem(last=False)
            self.bytes -= evicted.kv.numel() * evicted.kv.element_size()

    def clear(self) -> None:
        self._blocks.clear()
        self.bytes = 0
