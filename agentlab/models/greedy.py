"""Greedy batched decoding for compute-bound hardware: little padding, no finished rows carried along.

On a CPU a wide batch is compute-bound: every padded prompt token and every row that already ended
costs as much as useful work. ``model.generate`` pads every prompt to the longest and decodes every
row until the longest answer ends; on the arithmetic trace of benchmarks/throughput.py that
is about half the prompt tokens and more than half the decoding steps thrown away.
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from agentlab.models.cpu_threads import ThreadTuner
from agentlab.models.prefix_cache import PrefixCache


def length_buckets(lengths: list[int], waste: float = 0.1) -> list[list[int]]:
    """Rows grouped by length so that padding each group to its longest adds at most ``waste``.

    >>> length_buckets([10, 100, 11, 95, 12])
    [[0, 2, 4], [3, 1]]
    """
    buckets: list[list[int]] = []
    for row in sorted(range(len(lengths)), key=lengths.__getitem__):
        if buckets:
            group = [*buckets[-1], row]
            if lengths[row] * len(group) <= (1 + waste) * sum(lengths[r] for r in group):
                buckets[-1].append(row)
                continue
        buckets.append([row])
    return buckets


def prefill(
    model: Any, prompts: list[list[int]], prefix_cache: PrefixCache | None, spare: int
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Read prompts in length buckets, then pack their KV caches into one left-padded batch with
    ``spare`` columns for new tokens (``decode_cache.pack``).

    With a ``prefix_cache``, each prompt's longest cached prefix is not read again, and a prefix that
    several prompts of this batch share beyond the cache (agents reading the same question) is read
    once, before them. Returns the joined cache, the attention mask over it, the prompt index of each
    batch row, the position of each row's next token, each row's last logits, and how many prompt
    tokens of each prompt came from the cache.
    """
    from agentlab.models.decode_cache import pack

    if prefix_cache is not None:
        shared = _shared_prefixes(prompts, prefix_cache)
        if shared:
            _read(model, shared, prefix_cache)
    parts, reused = _read(model, prompts, prefix_cache)
    cache, mask = pack([p.cache for p in parts], [p.mask for p in parts], spare)
    device = mask.device
    order = torch.tensor([r for p in parts for r in p.rows], device=device)
    next_position = torch.tensor([len(prompts[r]) for r in order.tolist()], device=device)
    logits = torch.cat([p.logits for p in parts])
    return cache, mask, order, next_position, logits, reused


@dataclass(slots=True)
class _Bucket:
    rows: list[int]
    cache: Any
    mask: torch.Tensor
    logits: torch.Tensor


def _read(
    model: Any, prompts: list[list[int]], prefix_cache: PrefixCache | None
) -> tuple[list[_Bucket], list[int]]:
    """One forward per length bucket of the prompts' uncached parts; new whole blocks are stored.

    A row's cache holds [padding][cached prefix][padding][rest of the prompt]; the attention mask
    hides the padding and explicit positions keep every token where it was in the prompt.
    """
    from transformers import DynamicCache

    device = model.device
    matches = [_match(prefix_cache, ids) for ids in prompts]
    starts = [n for n, _ in matches]
    parts = []
    for rows in length_buckets([len(prompts[r]) - starts[r] for r in range(len(prompts))]):
        past = max(starts[r] for r in rows)
        width = max(len(prompts[r]) - starts[r] for r in rows)
        ids = torch.full((len(rows), width), 0, dtype=torch.long)
        mask = torch.zeros((len(rows), past + width), dtype=torch.long)
        for k, r in enumerate(rows):
            rest = prompts[r][starts[r] :]
            ids[k, width - len(rest) :] = torch.tensor(rest)
            mask[k, past - starts[r] : past] = 1
            mask[k, past + width - len(rest) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        if past:
            like = next(matches[r][1] for r in rows if starts[r] == past)
            kv = torch.stack(
                [
                    F.pad(matches[r][1], (0, 0, past - starts[r], 0))
                    if starts[r]
                    else like.new_zeros(like.shape)
                    for r in rows
                ],
                dim=1,
            )  # (layers, rows, 2, heads, past, dim)
            cache = DynamicCache(ddp_cache_data=[(x[:, 0], x[:, 1]) for x in kv], config=model.config)
        else:
            cache = DynamicCache(config=model.config)
        positions = torch.tensor([starts[r] for r in rows], device=device)[:, None] + (
            mask[:, past:].cumsum(-1) - 1
        ).clamp(min=0)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **_with_cache(model, cache),
        )
        if prefix_cache is not None:
            _store(prefix_cache, cache, [prompts[r] for r in rows], [starts[r] for r in rows], past, width)
        parts.append(_Bucket(rows, cache, mask, out.logits[:, -1]))
    return parts, starts


def _match(prefix_cache: PrefixCache | None, ids: list[int]) -> tuple[int, torch.Tensor | None]:
    if prefix_cache is None:
        return 0, None
    return prefix_cache.match(ids[:-1])  # at least one token is read, for the next token's logits


def _store(
    prefix_cache: PrefixCache, cache: Any, prompts: list[list[int]], starts: list[int], past: int, width: int
) -> None:
    for k, (ids, start) in enumerate(zip(prompts, starts, strict=True)):
        if len(ids) // prefix_cache.block_tokens <= start // prefix_cache.block_tokens:
            continue  # no new whole block
        rest = slice(past + width - (len(ids) - start), past + width)
        kv = torch.stack([torch.stack([x.keys[k, :, rest], x.values[k, :, rest]]) for x in cache.layers])
        prefix_cache.store(ids, kv, start)


def _shared_prefixes(prompts: list[list[int]], prefix_cache: PrefixCache) -> list[list[int]]:
    """The longest whole-block prefixes that two or more prompts share beyond what is cached.

    Chained hashes stand for prefixes here; a collision would only make one prefix be read
    needlessly, as reading and reuse go by the exact tokens.
    """
    block = prefix_cache.block_tokens
    chains: list[list[int]] = []
    seen: dict[int, int] = {}
    for ids in prompts:
        chain, h = [], 0
        for j in range((len(ids) - 1) // block):
            h = hash((h, tuple(ids[j * block : (j + 1) * block])))
            chain.append(h)
            seen[h] = seen.get(h, 0) + 1
        chains.append(chain)
    wanted: dict[int, list[int]] = {}
    for ids, chain in zip(prompts, chains, strict=True):
        deepest = max((j for j, h in enumerate(chain) if seen[h] > 1), default=-1)
        if deepest >= 0:
            wanted.setdefault(chain[deepest], ids[: (deepest + 1) * block])
    return [p for p in wanted.values() if prefix_cache.cached_length(p) < len(p)]


@torch.inference_mode()
def greedy_dropping_finished(
    model: Any,
    prompts: list[list[int]],
    eos: set[int],
    max_new_tokens: int,
    prefix_cache: PrefixCache | None = None,
    seconds: float | None = None,
    threads: ThreadTuner | None = None,
) -> tuple[list[list[int]], list[int]]:
    """Greedy decoding of a batch of prompts that drops each row from the batch once it ends.

    Prompts are read in length buckets, cached prefixes skipped (``prefill``); while decoding, the
    KV cache sheds rows that ended (``Cache.batch_select_indices``). Each row is decoded as it would
    be alone: same positions, padding masked out, argmax of its own logits. Returns each prompt's
    new tokens and how many of its prompt tokens the prefix cache served. With ``seconds``, decoding
    stops once that much time has passed (the rows still going end as if at their length limit).
    With ``threads``, each decode step runs at the thread count it chooses by timing.
    """
    deadline = None if seconds is None else time.perf_counter() + seconds
    cache, mask, rows, next_position, logits, reused = prefill(
        model, prompts, prefix_cache, spare=min(max_new_tokens, 64)
    )
    generated: list[list[int]] = [[] for _ in range(len(rows))]
    for step in range(max_new_tokens):
        tokens = logits.argmax(-1)
        live = []
        for k, (row, token) in enumerate(zip(rows.tolist(), tokens.tolist(), strict=True)):
            generated[row].append(token)
            if token not in eos:
                live.append(k)
        if (
            not live
            or step + 1 == max_new_tokens
            or (deadline is not None and time.perf_counter() > deadline)
        ):
            break
        if len(live) < len(rows):
            keep = torch.tensor(live, device=mask.device)
            cache.batch_select_indices(keep)
            rows, tokens, mask, next_position = rows[keep], tokens[keep], mask[keep], next_position[keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        decode = functools.partial(_decode_step, model, tokens, mask, next_position, cache)
        logits = decode() if threads is None else threads.step(decode)
        next_position = next_position + 1
    if threads is not None:
        threads.end_batch()
    return generated, reused


def _decode_step(
    model: Any, tokens: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any
) -> torch.Tensor:
    out = model(
        input_ids=tokens[:, None],
        attention_mask=mask,
        position_ids=positions[:, None],
        use_cache=True,
        **_with_cache(model, cache),
    )
    return out.logits[:, -1]


def _with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The KV cache as the model's forward names it: ``cache`` from transformers 5.2x on (which
    warns on the older ``past_key_values``), ``past_key_values`` before."""
    if type(model) not in _CACHE_KEYWORD:
        _CACHE_KEYWORD[type(model)] = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )
    return {_CACHE_KEYWORD[type(model)]: cache}


_CACHE_KEYWORD: dict[type, str] = {}
