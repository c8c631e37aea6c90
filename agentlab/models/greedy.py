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
    prompt_lookup_num_tokens: int = 0,
) -> tuple[list[list[int]], list[int]]:
    """Greedy decoding of a batch of prompts that drops each row from the batch once it ends.

    Prompts are read in length buckets, cached prefixes skipped (``prefill``); while decoding, the
    KV cache sheds rows that ended (``Cache.batch_select_indices``). Each row is decoded as it would
    be alone: same positions, padding masked out, argmax of its own logits. Returns each prompt's
    new tokens and how many of its prompt tokens the prefix cache served. With ``seconds``, decoding
    stops once that much time has passed (the rows still going end as if at their length limit).
    With ``threads``, each decode step runs at the thread count it chooses by timing.

    With ``prompt_lookup_num_tokens`` k > 0, each step also feeds each row up to k draft tokens:
    what followed the last place its latest n-gram occurred in its prompt and reply (prompt lookup
    decoding, Saxena 2023; transformers' ``prompt_lookup_num_tokens``, vLLM's ``ngram`` method).
    One forward scores them all; a row keeps the drafts its own argmax agrees with, plus the argmax
    after the last agreeing one, so the tokens are greedy decoding's and a step yields 1 to k + 1
    of them. Multi-agent replies quote what they were told, so drafts are often right; the keys and
    values of rejected drafts stay in the cache, masked out.
    """
    deadline = None if seconds is None else time.perf_counter() + seconds
    cache, mask, rows, next_position, logits, reused = prefill(
        model, prompts, prefix_cache, spare=min(max_new_tokens, 64)
    )
    generated: list[list[int]] = [[] for _ in range(len(rows))]
    logits = logits[:, None]  # (rows, fed tokens, vocab)
    drafts: list[list[int]] = [[] for _ in range(len(rows))]
    drafter = _Drafter(prompt_lookup_num_tokens, len(rows))
    while True:
        choice = logits.argmax(-1).tolist()
        live, accepted, last = [], [], []
        for k, row in enumerate(rows.tolist()):
            agree = 0
            while agree < len(drafts[k]) and choice[k][agree] == drafts[k][agree]:
                agree += 1
            drafter.taken(row, len(drafts[k]), agree)
            ended = False
            for token in choice[k][: agree + 1]:
                generated[row].append(token)
                if token in eos or len(generated[row]) == max_new_tokens:
                    ended = True
                    break
            if not ended:
                live.append(k)
                accepted.append(agree)
                last.append(generated[row][-1])
        if not live or (deadline is not None and time.perf_counter() > deadline):
            break
        taken = torch.tensor(accepted, device=mask.device)
        if len(live) < len(rows):
            keep = torch.tensor(live, device=mask.device)
            cache.batch_select_indices(keep)
            rows, next_position, mask = rows[keep], next_position[keep], mask[keep]
        width = logits.shape[1]
        if width > 1:  # the drafts past the agreeing ones never happened: hide them
            mask[:, -(width - 1) :] = (torch.arange(width - 1, device=mask.device) < taken[:, None]).long()
        next_position = next_position + taken  # the position of the token fed next
        drafts = [
            drafter.propose(r, prompts[r], generated[r], max_new_tokens - len(generated[r]) - 1)
            for r in rows.tolist()
        ]
        fed = torch.tensor(
            [[t, *d] + [0] * (max(map(len, drafts)) - len(d)) for t, d in zip(last, drafts, strict=True)]
        )
        new_columns = torch.tensor([[1] * (1 + len(d)) + [0] * (fed.shape[1] - 1 - len(d)) for d in drafts])
        mask = torch.cat([mask, new_columns.to(mask)], dim=1)
        decode = functools.partial(_decode_step, model, fed.to(mask.device), mask, next_position, cache)
        logits = decode() if threads is None else threads.step(decode, tuple(fed.shape))
        next_position = next_position + 1
    if threads is not None:
        threads.end_batch()
    return generated, reused


class _Drafter:
    """How many draft tokens each row proposes, from how many it had taken: on a CPU a forward is
    compute-bound at a few dozen tokens, so rejected drafts cost nearly what real tokens do. A row
    whose drafts all agreed may propose one more (up to ``most``); one whose drafts all failed
    proposes none for 1, 2, 4, ... 32 steps (the wait doubling while they keep failing)."""

    LONGEST_WAIT = 32

    def __init__(self, most: int, rows: int) -> None:
        self.most = most
        self.allow, self.misses, self.wait = [most] * rows, [0] * rows, [0] * rows

    def propose(self, row: int, prompt: list[int], reply: list[int], room: int) -> list[int]:
        if self.wait[row] > 0:
            self.wait[row] -= 1
            return []
        most = min(self.allow[row], room)
        return _prompt_lookup(prompt + reply, most) if most > 0 else []

    def taken(self, row: int, proposed: int, agreed: int) -> None:
        if not proposed:
            return
        if agreed == 0:
            self.misses[row] = min(self.LONGEST_WAIT, 2 * self.misses[row] or 1)
            self.wait[row] = self.misses[row]
            self.allow[row] = max(1, self.allow[row] // 2)
            return
        self.misses[row] = 0
        self.allow[row] = min(self.most, self.allow[row] + 1) if agreed == proposed else agreed


def _prompt_lookup(ids: list[int], most: int, longest: int = 3, shortest: int = 2) -> list[int]:
    """Up to ``most`` tokens that followed the latest earlier occurrence of ``ids``' last n-gram
    (the longest n from ``longest`` down to ``shortest`` that occurs)."""
    if most <= 0:
        return []
    for n in range(longest, shortest - 1, -1):
        if len(ids) <= n:
            continue
        tail = ids[-n:]
        for start in range(len(ids) - n - 1, -1, -1):
            if ids[start : start + n] == tail:
                return ids[start + n : start + n + most]
    return []


def _decode_step(
    model: Any, tokens: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any
) -> torch.Tensor:
    """Feeds each row's tokens (rows, n) at its positions on; returns their logits (rows, n, vocab)."""
    out = model(
        input_ids=tokens,
        attention_mask=mask,
        position_ids=positions[:, None] + torch.arange(tokens.shape[1], device=tokens.device),
        use_cache=True,
        **_with_cache(model, cache),
    )
    return out.logits


def _with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The KV cache as the model's forward names it: ``cache`` from transformers 5.2x on (which
    warns on the older ``past_key_values``), ``past_key_values`` before."""
    if type(model) not in _CACHE_KEYWORD:
        _CACHE_KEYWORD[type(model)] = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )
    return {_CACHE_KEYWORD[type(model)]: cache}


_CACHE_KEYWORD: dict[type, str] = {}
